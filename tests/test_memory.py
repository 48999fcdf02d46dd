"""The CLI's allocator setting: applied where glibc runs, harmless elsewhere."""

import platform
import sys

import pytest

from consensus.cli.memory import return_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt only exists on glibc Linux")
def test_thresholds_are_fixed_on_glibc():
    assert return_freed_memory() is True


def test_elsewhere_it_says_it_did_nothing(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert return_freed_memory() is False
