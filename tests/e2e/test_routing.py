"""Every URL goes through the router, even the first one a freshly started server is asked for."""

from __future__ import annotations

import sys

from playwright.sync_api import expect

from tests.e2e.conftest import EXPECT_TIMEOUT_MS, _serve


def test_a_deep_link_as_the_first_visit_after_a_start_gets_the_router(tmp_path, page):
    """Streamlit runs a pages/ file by itself until st.navigation has run once; ``core serve`` says it never will."""
    server = _serve(tmp_path, [sys.executable, "-m", "core", "serve", "--port", "{port}"], {})
    base_url = next(server)
    try:
        page.goto(f"{base_url}/library")
        expect(page.get_by_role("heading", name="Library")).to_be_visible(timeout=EXPECT_TIMEOUT_MS)
        sidebar = page.get_by_test_id("stSidebarNav")
        # The router's titles, not the file names of the first multipage scheme ("streamlit app", "surveys").
        expect(sidebar.get_by_text("Listening tests")).to_be_visible()
        expect(sidebar.get_by_text("streamlit app")).to_have_count(0)
    finally:
        server.close()
