"""What a person does in Chromium: sign in through the hub's Google button, use JupyterLab."""

import re
import time

from jupyter_api import user_path
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Response,
    WebSocket,
    expect,
)
from playwright.sync_api import Error as PlaywrightError
from waiting import wait_for

# Debian's Chromium: Playwright's own browser builds are not installed on these machines.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SPAWN_TIMEOUT_SECONDS = 240
UI_TIMEOUT_MS = 60_000
CELL_TIMEOUT_MS = 90_000
NAVIGATION_RETRY_SECONDS = 30
SIGN_IN_ATTEMPTS = 3
KERNEL_IDLE = re.compile(r"Python 3 \(ipykernel\) \| Idle")
# Docker adds a network interface for every container it starts; Chromium notices and aborts
# the navigations in flight with this error. A person would press reload; so do the tests.
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"
CHROME_ERROR_PAGE = "chrome-error://"


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])


def open_url(page: Page, url: str) -> Response | None:
    """page.goto that reloads when Chromium aborted the navigation for a network change."""
    deadline = time.monotonic() + NAVIGATION_RETRY_SECONDS
    while True:
        try:
            return page.goto(url)
        except PlaywrightError as error:
            if NETWORK_CHANGED not in str(error) or time.monotonic() > deadline:
                raise


def sign_in(
    context: BrowserContext, public_url: str, email: str, start_path: str = "/hub/login"
) -> tuple[Page, Response]:
    """Open `start_path`, click "Sign in with Google", pick `email` at the provider.

    Returns the page and the hub's answer to the OAuth callback (the page then follows the
    hub's redirects on its own, e.g. to the spawn-pending page). A sign-in that Chromium
    aborted for a network change is started over, as a person would.
    """
    for attempt in range(1, SIGN_IN_ATTEMPTS + 1):
        page = context.new_page()
        try:
            return page, _sign_in_once(page, public_url, email, start_path)
        except PlaywrightError:
            if attempt == SIGN_IN_ATTEMPTS or not page.url.startswith(CHROME_ERROR_PAGE):
                raise
            page.close()
    raise AssertionError("unreachable")


def _sign_in_once(page: Page, public_url: str, email: str, start_path: str) -> Response:
    open_url(page, f"{public_url}{start_path}")
    # JupyterHub draws the login link as a button (role="button").
    label = re.compile(r"sign in with google", re.IGNORECASE)
    page.get_by_role("button", name=label).or_(page.get_by_role("link", name=label)).click()
    # The stand-in's consent page: type the account, as a person picks one at Google.
    subject = page.locator("input[name=sub]")
    subject.wait_for(timeout=UI_TIMEOUT_MS)
    subject.fill(email)
    callback = re.compile(re.escape(f"{public_url}/hub/oauth_callback"))
    with page.expect_response(callback, timeout=UI_TIMEOUT_MS) as answer:
        page.get_by_role("button", name="Authorize", exact=True).click()
    return answer.value


def wait_for_jupyterlab(page: Page, public_url: str, username: str) -> None:
    """Follow the spawn-pending page until the student's JupyterLab has rendered; stop early
    when the hub reports that the spawn failed."""
    lab_url = re.compile(rf"/user/{re.escape(username)}/lab")
    failure = page.get_by_text(re.compile(r"spawn failed", re.IGNORECASE))

    def arrived() -> bool:
        if failure.count():
            raise AssertionError(f"spawn of {username} failed: {failure.first.inner_text()}")
        if page.url.startswith(CHROME_ERROR_PAGE):
            # The redirect to the new server raced Docker's new interface; ask again.
            open_url(page, f"{public_url}/hub/spawn-pending/{user_path(username)}")
        return bool(lab_url.search(page.url))

    wait_for(arrived, timeout=SPAWN_TIMEOUT_SECONDS, what=f"JupyterLab of {username}")
    # Its main area, not a launcher: a returning student's workspace reopens their tabs.
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=UI_TIMEOUT_MS)


def run_first_cell(page: Page, source: str) -> str:
    """Open a new launcher, from it a new Python notebook, run `source` in its first cell and
    return the cell's output text (it travels over the kernel websocket)."""
    refused = _record_websocket_errors(page)
    # A returning student's restored workspace may open dialogs over the page, one after the
    # other (a kernel to choose for each notebook they had open, whose server started again):
    # they accept each.
    dialog = page.locator(".jp-Dialog").first
    page.add_locator_handler(
        dialog, lambda: dialog.locator(".jp-mod-accept").click(), no_wait_after=True
    )
    # As a student would whose workspace reopened a notebook rather than a launcher.
    page.get_by_role("button", name=re.compile(r"^New Launcher")).first.click()
    page.locator('.jp-LauncherCard[data-category="Notebook"]:visible').first.click()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook")).to_be_visible(timeout=UI_TIMEOUT_MS)
    # Typing before the kernel is connected would run nothing: wait, as a person would, until
    # the status bar says the notebook's kernel is idle (JupyterLab may swap the first session).
    status_bar = page.locator("#jp-main-statusbar")
    try:
        expect(status_bar).to_contain_text(KERNEL_IDLE, timeout=CELL_TIMEOUT_MS)
    except AssertionError as error:
        raise AssertionError(f"kernel never idle; websocket errors: {refused[-3:]}") from error
    editor = notebook.locator(".jp-Cell .cm-content").first
    editor.click()
    editor.type(source)
    page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-Cell").first.locator(".jp-OutputArea-output")
    expect(output).not_to_be_empty(timeout=CELL_TIMEOUT_MS)
    return output.inner_text()


def _record_websocket_errors(page: Page) -> list[str]:
    """Collect the page's websocket failures (a refused handshake shows up only here)."""
    errors: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("socketerror", lambda error: errors.append(f"{socket.url}: {error}"))

    page.on("websocket", watch)
    return errors


def create_api_token(context: BrowserContext, public_url: str, username: str) -> str:
    """Ask the hub for an API token as the signed-in user, the way its token page does
    (hub pages carry the user's XSRF token in `jhdata`)."""
    page = context.new_page()
    open_url(page, f"{public_url}/hub/token")
    token = page.evaluate(
        """async (username) => {
            const url = `${window.jhdata.base_url}api/users/${encodeURIComponent(username)}/tokens`;
            const response = await fetch(url, {
                method: "POST",
                headers: {"X-XSRFToken": window.jhdata.xsrf_token,
                          "Content-Type": "application/json"},
                body: JSON.stringify({note: "camphub live test", expires_in: 3600}),
            });
            if (!response.ok) { throw new Error(`token request: ${response.status}`); }
            return (await response.json()).token;
        }""",
        username,
    )
    page.close()
    return token
