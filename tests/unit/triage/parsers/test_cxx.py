"""C++ ``terminate called after throwing an instance of 'X'`` reports (URL beside each)."""

from __future__ import annotations

from prodops.triage.parsers import Framework, categorize, cxx

# https://github.com/SBNSoftware/SBNSoftware.github.io/blob/000d205674199e2837b1e56bad73ec0b2a453851/sbndaq_oldwiki/SBND_TPC_DAQ.md (lines 130-133)
FUTURE_ERROR = """\
        terminate called after throwing an instance of 'std::future_error'
          what():  std::future_error: No associated state
        DeviceFind: Failed scanning the PCI bus.
        Error: 0xffffffffffffffff - Unrecognized error code""".splitlines()


def test_type_and_what():
    [err] = cxx.parse(FUTURE_ERROR)
    assert err.framework is Framework.CXX and err.categories == ("std::future_error",)
    assert err.cause_line == 1 and err.cause == "std::future_error: No associated state"
    assert err.message[0] == "std::future_error: No associated state"
    assert categorize(err).category.value == "code"


def test_abi_namespaces_are_removed_from_type_names():
    assert cxx.normalize_type("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >") \
        == "std::basic_string<char, std::char_traits<char>, std::allocator<char> >"
