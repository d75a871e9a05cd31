"""Layout and accessibility checks run inside the page (JavaScript via Playwright).

Each returns a list of readable problems; an empty list means the page passed.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

AXE = Axe()
# WCAG 2.1 A and AA, which BITV 2.0 refers to through EN 301 549.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}

TOUCH_TARGETS = """() => {
  const problems = [];
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea';
  for (const element of document.querySelectorAll(selector)) {
    if (element.closest('[hidden], template')) continue;
    if (element.matches('.visually-hidden, .skip')) continue;
    let box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (element.type === 'checkbox') box = element.closest('.check').getBoundingClientRect();
    if (element.tagName === 'A' && getComputedStyle(element).display === 'inline') {
      // WCAG 2.5.5 exception: a link inside a sentence.
      const block = element.closest('p, li, dd');
      const own = element.textContent.trim().length;
      if (block && block.textContent.trim().length > own + 1) continue;
    }
    if (box.width < 43.5 || box.height < 43.5) {
      const name = (element.textContent || element.getAttribute('aria-label')
        || element.name || element.id).trim();
      const size = `${Math.round(box.width)}x${Math.round(box.height)}`;
      problems.push(`${element.tagName.toLowerCase()} "${name}" is ${size}`);
    }
  }
  return problems;
}"""

OVERFLOW = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    problems.push(`page scrolls sideways: ${root.scrollWidth} > ${window.innerWidth}`);
  }
  for (const element of document.querySelectorAll('body *')) {
    const skipped = 'select, input, textarea, option, script, template, .visually-hidden, .skip';
    if (element.matches(skipped)) continue;
    if (element.closest('[hidden], template')) continue;
    if (element.clientWidth > 0 && element.scrollWidth > element.clientWidth + 1) {
      const what = `<${element.tagName.toLowerCase()} class="${element.className}">`;
      problems.push(`text overflows ${what}: ${element.scrollWidth} > ${element.clientWidth}`);
    }
  }
  return problems;
}"""

DIRECTION = """(expected) => {
  const problems = [];
  const html = document.documentElement;
  if (html.dir !== expected) problems.push(`html dir is ${html.dir}, expected ${expected}`);
  const main = document.querySelector('main');
  const heading = main.querySelector('h1');
  const style = getComputedStyle(main);
  const box = main.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(heading);
  const text = range.getBoundingClientRect();
  const start = expected === 'rtl'
    ? box.right - parseFloat(style.paddingRight) - text.right
    : text.left - (box.left + parseFloat(style.paddingLeft));
  const edge = expected === 'rtl' ? 'right' : 'left';
  if (Math.abs(start) > 2) {
    problems.push(`heading is ${Math.round(start)} px off the ${edge} edge of the main column`);
  }
  if (getComputedStyle(main).direction !== expected) problems.push('main column direction');
  return problems;
}"""

CHEVRON = """() => {
  const tile = document.querySelector('.tile');
  if (!tile) return null;
  const matrix = new DOMMatrix(getComputedStyle(tile, '::after').transform);
  return matrix.a;
}"""

FOCUS_VISIBLE = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return 'nothing has focus';
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return `focused ${element.tagName} is not visible`;
  if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) {
    return `focused ${element.tagName} "${element.textContent.trim()}" has no visible outline`;
  }
  return '';
}"""


def axe_problems(page: Page) -> list[str]:
    """Serious and critical axe-core violations, one line each."""
    results: Any = AXE.run(page, options=AXE_OPTIONS)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [", ".join(node["target"]) for node in violation["nodes"][:3]]
            problems.append(f"axe {violation['id']} ({violation['impact']}): {targets}")
    return problems


def touch_target_problems(page: Page) -> list[str]:
    result: list[str] = page.evaluate(TOUCH_TARGETS)
    return result


def overflow_problems(page: Page) -> list[str]:
    result: list[str] = page.evaluate(OVERFLOW)
    return result


def direction_problems(page: Page, direction: str) -> list[str]:
    result: list[str] = page.evaluate(DIRECTION, direction)
    return result


def chevron_scale(page: Page) -> float | None:
    value = page.evaluate(CHEVRON)
    return None if value is None else float(value)


def focus_problem(page: Page) -> str:
    result: str = page.evaluate(FOCUS_VISIBLE)
    return result
