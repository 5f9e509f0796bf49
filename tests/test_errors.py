"""One-line error summaries keep the reason, not the library's source-location banner."""

from __future__ import annotations

from twinbench.core.errors import one_line, summary


def test_location_banners_are_dropped_and_reason_kept() -> None:
    text = ("Exception from src/inference/src/cpp/core.cpp:84:\n"
            "Check 'false' failed at src/frontends/x/report.cpp:151:\n"
            "FrontEnd API failed with OpConversionFailure:\n\n  -- Loop-18 cannot be converted\n")
    assert summary(text) == "FrontEnd API failed with OpConversionFailure: -- Loop-18 cannot be converted"
    assert one_line(RuntimeError(text)).startswith("RuntimeError: FrontEnd API failed")


def test_long_messages_are_cut_and_banner_only_messages_survive() -> None:
    assert len(summary("x" * 1000, 50)) == 50 and summary("x" * 1000, 50).endswith("…")
    assert summary("Exception from a/b.cpp:1:") == "Exception from a/b.cpp:1:"
    assert one_line(ValueError()) == "ValueError: "
    assert "\n" not in one_line(KeyError("a\nb"))
