"""``papra-pipeline dashboard`` without its extra, and the command it runs."""

from __future__ import annotations

from pathlib import Path

from papra_pipeline import dashboard
from papra_pipeline.cli import main


def test_without_the_extra_it_says_in_one_line_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(dashboard, "streamlit_installed", lambda: False)

    assert main(["dashboard", "--db", "papra.duckdb"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "pip install 'papra-pipeline[dashboard]'" in err


def test_it_serves_on_loopback_only_and_sends_no_usage_statistics(tmp_path):
    words = dashboard.command(tmp_path / "papra.duckdb", port=3400, freshness_hours=2)

    assert "--server.address=127.0.0.1" in words
    assert "--server.port=3400" in words
    assert "--browser.gatherUsageStats=false" in words
    assert words[-4:] == ["--db", str(tmp_path / "papra.duckdb"), "--freshness-hours", "2"]
    assert Path(words[words.index("run") + 1]).name == "app.py"
