"""report.html in a real headless browser (Debian's chromium driven by selenium through
chromedriver): one matrix per scenario with the right cells and colours, a failed cell's
evidence opens, and a screenshot is kept as an artifact of the test
($ZTC_TEST_ARTIFACTS, default artifacts/self-tests/). Skipped locally without chromium;
required when CI=true (.ci/run installs it)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.reports.html import COLOURS
from conformance.reports.model import REPORT
from tests.reports.conftest import REPO, SuiteRun
from tests.reports.test_suite_reports import junit_cells
from tests.support.requirements import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGE_TIMEOUT_S = 30.0
DIALOG_TIMEOUT_S = 10.0
POLL_S = 0.05


def browser_problem() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} not on PATH (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if (problem := browser_problem()) is not None:
        unavailable(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))),
                              options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def rgba(hex_colour: str) -> str:
    """#rrggbb as WebDriver reports a computed colour."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, 1)"


def screenshots() -> Path:
    folder = Path(os.environ.get("ZTC_TEST_ARTIFACTS") or REPO / "artifacts" / "self-tests")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)  # poll the page
    return True


def test_fault_run_report_in_a_browser(browser: Any, l7_off_run: SuiteRun,
                                       record_property: Any) -> None:
    from selenium.webdriver.common.by import By

    expected = junit_cells(l7_off_run)  # pytest's own verdicts: the oracle
    browser.get((l7_off_run.artifacts / REPORT).as_uri())
    sections = browser.find_elements(By.CSS_SELECTOR, "section.scenario")
    per_scenario = Counter(s for s, _ in expected)
    assert sorted(s.get_attribute("data-scenario") for s in sections) == sorted(per_scenario)
    for section in sections:
        name = section.get_attribute("data-scenario")
        assert len(section.find_elements(By.CSS_SELECTOR, "table.matrix")) == 1
        cells = section.find_elements(By.CSS_SELECTOR, "table.matrix td.cell")
        assert len(cells) == per_scenario[name], name
        for td in cells:
            cell_id = td.get_attribute("title").rsplit(": ", 1)[0]
            outcome = expected[(name, cell_id)]
            assert td.value_of_css_property("background-color") == rgba(COLOURS[outcome]), \
                (name, cell_id, outcome)
    failed = browser.find_elements(By.CSS_SELECTOR, "td.cell.failed")
    assert len(failed) == sum(1 for v in expected.values() if v == "failed") > 0
    target = failed[0]
    cell_id = target.get_attribute("title").rsplit(": ", 1)[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    target.click()
    dialog = browser.find_element(By.ID, "evidence")
    assert wait_until(lambda: dialog.get_attribute("open") is not None, DIALOG_TIMEOUT_S)
    text = dialog.text
    assert cell_id in text and "FAILED" in text
    for heading in ("Model", "Probe", "Attempt 1", "Matching flows", "Application log",
                    "Metric deltas", "Policies"):
        assert heading in text, heading
    rows = dialog.find_elements(By.CSS_SELECTOR, "table.checks tr.fail")
    assert rows and all("FAIL" in r.text for r in rows)
    shot = screenshots() / "report-l7-off-evidence.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0
    record_property("screenshot", str(shot))
    dialog.find_element(By.ID, "close").click()
    assert wait_until(lambda: dialog.get_attribute("open") is None, DIALOG_TIMEOUT_S)
