"""HTTP and websocket clients for the hub API and a student's server, through nginx."""

import json
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
import websocket
from waiting import wait_for

SERVER_TIMEOUT_SECONDS = 240
EXECUTE_TIMEOUT_SECONDS = 60


def user_path(username: str) -> str:
    """The URL path segment JupyterHub uses for a user (it keeps @ and ~ unescaped)."""
    return quote(username, safe="@~")


@dataclass
class HubClient:
    """Someone holding an API token: a student, an admin or nobody at all (token None)."""

    public_url: str
    ca_file: Path
    token: str | None

    def request(self, method: str, url: str, timeout: float, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        # verify per request: a session-wide one loses to REQUESTS_CA_BUNDLE in the env.
        return requests.request(
            method,
            url,
            headers=headers,
            verify=str(self.ca_file),
            timeout=timeout,
            allow_redirects=False,
            **kwargs,
        )

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.request(method, f"{self.public_url}/hub/api{path}", 60, **kwargs)

    def server_api(self, owner: str, method: str, path: str, **kwargs) -> requests.Response:
        url = f"{self.public_url}/user/{user_path(owner)}/api{path}"
        return self.request(method, url, 300, **kwargs)

    def user_model(self, username: str) -> dict:
        response = self.hub_api("GET", f"/users/{user_path(username)}")
        response.raise_for_status()
        return response.json()

    def server_ready(self, username: str) -> bool:
        server = self.user_model(username)["servers"].get("")
        return bool(server and server.get("ready"))

    def server_gone(self, username: str) -> bool:
        return "" not in self.user_model(username)["servers"]

    def start_server(self, username: str, timeout: float = SERVER_TIMEOUT_SECONDS) -> None:
        response = self.hub_api("POST", f"/users/{user_path(username)}/server")
        if response.status_code not in (201, 202, 400):  # 400: already running
            response.raise_for_status()
        wait_for(
            lambda: self.server_ready(username),
            timeout=timeout,
            what=f"server of {username} ready",
            interval=1,
        )

    def server_answers(self, username: str) -> bool:
        return self.server_api(username, "GET", "/status").status_code == 200

    def start_server_and_wait_until_it_answers(self, username: str) -> None:
        """Start the server and wait until requests through the proxy reach it (the hub may
        call a server ready a moment before its route leads anywhere; see the restart test)."""
        self.start_server(username)
        _wait_for_server(lambda: self.server_answers(username), f"server of {username} answering")

    def stop_server(self, username: str) -> None:
        response = self.hub_api("DELETE", f"/users/{user_path(username)}/server")
        if response.status_code not in (202, 204):
            response.raise_for_status()
        _wait_for_server(lambda: self.server_gone(username), f"server of {username} stopped")

    def run_code(self, owner: str, code: str) -> str:
        """Run `code` in a fresh kernel of `owner`'s server over the kernel websocket and
        return what it printed; the kernel is shut down afterwards."""
        response = self.server_api(owner, "POST", "/kernels", json={"name": "python3"})
        response.raise_for_status()
        kernel_id = response.json()["id"]
        try:
            return self.run_in_kernel(owner, kernel_id, code)
        finally:
            self.server_api(owner, "DELETE", f"/kernels/{kernel_id}")

    def run_in_kernel(self, owner: str, kernel_id: str, code: str) -> str:
        """Run `code` in `owner`'s running kernel `kernel_id` (whose state it sees) over the
        kernel websocket and return what it printed."""
        ws_base = self.public_url.replace("https://", "wss://", 1)
        url = f"{ws_base}/user/{user_path(owner)}/api/kernels/{kernel_id}/channels"
        connection = websocket.create_connection(
            url,
            header=[f"Authorization: token {self.token}"],
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(self.ca_file)},
            timeout=EXECUTE_TIMEOUT_SECONDS,
        )
        try:
            return execute_in_kernel(connection, code)
        finally:
            connection.close()


def execute_in_kernel(
    connection: websocket.WebSocket, code: str, timeout: float = EXECUTE_TIMEOUT_SECONDS
) -> str:
    """Run `code` over an open kernel websocket and return what it printed; fail if the kernel
    has not finished within `timeout` seconds."""
    msg_id = uuid.uuid4().hex
    connection.send(json.dumps(_execute_request(msg_id, code)))
    return _collect_output(connection, msg_id, timeout)


def _wait_for_server(check, what: str) -> None:
    wait_for(check, timeout=SERVER_TIMEOUT_SECONDS, what=what, interval=1)


def _execute_request(msg_id: str, code: str) -> dict:
    return {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


def _collect_output(connection: websocket.WebSocket, msg_id: str, timeout: float) -> str:
    """Gather stdout and errors of one execution until the kernel reports idle for it."""
    printed: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(connection.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            printed.append(content["text"])
        elif kind == "error":
            printed.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(printed)
    raise TimeoutError(f"kernel gave no idle status within {timeout:.0f}s")
