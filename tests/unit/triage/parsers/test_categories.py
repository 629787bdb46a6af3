"""include/triage/framework_categories.yaml: complete against the frameworks' own lists, sourced, and read innermost first."""

from __future__ import annotations

import re

import pytest
import yaml

from prodops.constants import Category
from prodops.triage.facts import load_facts
from prodops.triage.parsers import ChainLink, Framework, FrameworkError, categorize, load_categories
from prodops.triage.parsers.categories import CATEGORIES_FILE, CategoriesInvalid, parse_categories

# art::errors::ErrorCodes in order from 1, as in
# https://github.com/art-framework-suite/canvas/blob/d325d35196682ebdeac2a14b3f749adf8a34a03b/canvas/Utilities/Exception.h
ART_ERRORS = (
    "OtherArt StdException Unknown BadAlloc BadExceptionType ProductNotFound DictionaryNotFound ProductPutFailure"
    " Configuration LogicError UnimplementedFeature InvalidReference TypeConversion NullPointerError EventTimeout"
    " DataCorruption ScheduleExecutionFailure EventProcessorFailure EndJobFailure FileOpenError FileReadError"
    " FatalRootError MismatchedInputFiles CatalogServiceError ProductDoesNotSupportViews ProductDoesNotSupportPtr"
    " SQLExecutionError InvalidNumber NotFound ServiceNotFound ProductCannotBeAggregated ProductRegistrationFailure"
    " EventRangeOverlap").split()

# edm::errors::ErrorCodes of
# https://github.com/cms-sw/cmssw/blob/7910f0640db9f7896cfb5f94a56ee853c99247b4/FWCore/Utilities/interface/EDMException.h
EDM_ERRORS = {
    7000: "CommandLineProcessing", 7001: "ConfigFileNotFound", 7002: "ConfigFileReadError", 8001: "OtherCMS",
    8002: "StdException", 8003: "Unknown", 8004: "BadAlloc", 8005: "BadExceptionType", 8006: "ProductNotFound",
    8007: "DictionaryNotFound", 8008: "InsertFailure", 8009: "Configuration", 8010: "LogicError",
    8011: "UnimplementedFeature", 8012: "InvalidReference", 8013: "NullPointerError", 8014: "NoProductSpecified",
    8015: "EventTimeout", 8016: "EventCorruption", 8017: "ScheduleExecutionFailure", 8018: "EventProcessorFailure",
    8019: "FileInPathError", 8020: "FileOpenError", 8021: "FileReadError", 8022: "FatalRootError",
    8023: "MismatchedInputFiles", 8024: "ProductDoesNotSupportViews", 8025: "ProductDoesNotSupportPtr", 8026: "NotFound",
    8027: "FormatIncompatibility", 8028: "FallbackFileOpenError", 8029: "NoSecondaryFiles", 8030: "ExceededResourceVSize",
    8031: "ExceededResourceRSS", 8032: "ExceededResourceTime", 8033: "FileWriteError", 8034: "FileNameInconsistentWithGUID",
    8035: "UnavailableAccelerator", 8036: "ExternalFailure", 8501: "EventGenerationFailure",
    8901: "UnexpectedJobTermination", 9000: "CaughtSignal",
}

# fhicl::error names of
# https://github.com/art-framework-suite/fhicl-cpp/blob/f4bf702d9e3d8cd0f5cd21b0e70703718409b538/fhiclcpp/exception.cc
FHICL_ERRORS = ["Can't find key", "Can't happen", "Can't insert key", "Excessive value", "Parse error", "Type mismatch",
                "Protection violation", "Can't open DB", "SQL error", "Unimplemented feature", "Other error"]

PINNED = re.compile(r"^https://github\.com/[^/]+/[^/]+/(?:blob/(?:[0-9a-f]{40}|v[\d.]+)/|(?:issues|pull)/\d+)")


def test_every_framework_category_is_in_the_table():
    table = load_categories()
    assert set(ART_ERRORS) == set(table.names["art"])
    assert set(EDM_ERRORS.values()) <= set(table.names["cmssw"])  # plus categories of other CMSSW headers (NoRecord)
    assert set(FHICL_ERRORS) == set(table.names["fhicl"])


def test_the_exit_code_tables_agree_with_the_frameworks_lists():
    tables = load_facts().exit_tables
    art_codes = {c.code: c.framework_category for c in tables["art"].codes.values() if c.code <= len(ART_ERRORS)}
    assert art_codes == {i + 1: name for i, name in enumerate(ART_ERRORS)}
    assert {c.code: c.framework_category for c in tables["cmssw"].codes.values()} == EDM_ERRORS


def test_every_rule_has_a_pinned_source_and_one_line_reason():
    table = load_categories()
    for url in table.sources.values():
        assert url.startswith("https://")
        if url.startswith("https://github.com/"):
            assert PINNED.match(url), url
    rules = [r for names in table.names.values() for r in names.values()] + \
            [r for rs in table.prefixes.values() for r in rs]
    assert len(rules) > 150
    assert all(r.source in table.sources.values() and "\n" not in r.reason for r in rules)


def test_a_wrapper_decides_only_as_the_innermost_link():
    def art_error(*categories):
        chain = tuple(ChainLink(category=c) for c in categories)
        return FrameworkError(framework=Framework.ART, categories=categories, message=(), cause_line=0, cause="",
                              start=0, end=0, chain=chain)

    assert categorize(art_error("ScheduleExecutionFailure")).category is Category.CODE
    assert categorize(art_error("ScheduleExecutionFailure", "SomeExperimentCategory")) is None
    rule = categorize(art_error("EventProcessorFailure", "FileReadError"))
    assert (rule.key, rule.service, rule.retryable) == ("FileReadError", "storage", True)


def test_a_broken_entry_is_refused_with_its_table_and_field():
    raw = yaml.safe_load(CATEGORIES_FILE.read_text())
    raw["cmssw"][0]["category"] = "maybe"
    with pytest.raises(CategoriesInvalid, match=r"cmssw\.0\.category"):
        parse_categories(raw, "test.yaml")
    raw = yaml.safe_load(CATEGORIES_FILE.read_text())
    raw["art"][0]["source"] = "nowhere"
    with pytest.raises(CategoriesInvalid, match="not a key of sources"):
        parse_categories(raw, "test.yaml")
