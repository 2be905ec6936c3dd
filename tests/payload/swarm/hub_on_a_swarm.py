"""Drives the hub of swarm/hub_config.py through its REST API, from inside its container (the
Docker socket mounted, on a one-node swarm, so the students' containers are local). Prints one
JSON object of what it saw; tests/payload/test_spawner_on_a_swarm.py judges.
"""

import json
import time
import urllib.error
import urllib.request

import docker

API = "http://127.0.0.1:8081/hub/api"
TOKEN = "swarm-test-token-0123456789abcdef"
HUB_CONTAINER = "camphub-test-hub"
NETWORK = "camp"
STUDENT, NO_ROOM_STUDENT = "ada", "nina"
TIMEOUT_SECONDS = 120
LOOK_SECONDS = 0.5

engine = docker.APIClient()


def api(method: str, path: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{API}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def until(condition, what: str):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(LOOK_SECONDS)
    raise TimeoutError(f"{what} within {TIMEOUT_SECONDS} s")


def until_the_hub_answers() -> None:
    def answers():
        try:
            return api("GET", "/")[0] == 200
        except OSError:
            return False

    until(answers, "the hub answering")


def server(user: str) -> dict | None:
    """The hub's model of the user's server; None when it has none."""
    return json.loads(api("GET", f"/users/{user}")[1])["servers"].get("")


def route(user: str) -> str | None:
    routes = json.loads(api("GET", "/proxy")[1])
    return routes.get(f"/user/{user}/", {}).get("target")


def service_exists(user: str) -> bool:
    return bool(engine.services(filters={"name": f"jupyter-{user}"}))


def running_task(user: str) -> dict | None:
    tasks = engine.tasks(filters={"service": f"jupyter-{user}", "desired-state": "running"})
    running = [task for task in tasks if task["Status"]["State"] == "running"]
    return running[0] if running else None


def task_address(task: dict) -> str:
    (attachment,) = [
        a for a in task["NetworksAttachments"] if a["Network"]["Spec"]["Name"] == NETWORK
    ]
    return attachment["Addresses"][0].split("/")[0]


def hub_log_lines(since: float) -> list[str]:
    return engine.logs(HUB_CONTAINER, since=int(since)).decode().splitlines()


def start(user: str) -> None:
    api("POST", f"/users/{user}")
    api("POST", f"/users/{user}/server")


def no_room() -> dict:
    started = time.monotonic()
    start(NO_ROOM_STUDENT)
    _, body = api("GET", f"/users/{NO_ROOM_STUDENT}/server/progress")
    events = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    return {
        "told_after_seconds": time.monotonic() - started,
        "last_event": events[-1] if events else None,
        "server": server(NO_ROOM_STUDENT),
        "service_left": service_exists(NO_ROOM_STUDENT),
    }


def killed_and_restarted_by_the_swarm() -> dict:
    """Kills the student's running container; the swarm starts a new task after its restart
    delay. Looks at the hub throughout, until it routes to the new task."""
    start(STUDENT)
    until(lambda: (server(STUDENT) or {}).get("ready"), "the student's server ready")
    first = until(lambda: running_task(STUDENT), "the student's task running")
    killed_at = time.time()
    engine.kill(first["Status"]["ContainerStatus"]["ContainerID"])
    looks = []

    def routed_to_a_new_task():
        model, task = server(STUDENT), running_task(STUDENT)
        looks.append({"ready": bool(model and model.get("ready")), "route": route(STUDENT)})
        if task is None or task["ID"] == first["ID"]:
            return None
        return task if looks[-1]["route"] == f"http://{task_address(task)}:8888" else None

    second = until(routed_to_a_new_task, "the hub routing to the restarted task")
    new_address = task_address(second)

    def activity_from_the_new_task():
        lines = hub_log_lines(killed_at)
        return [line for line in lines if "/activity" in line and f"@{new_address})" in line]

    activity = until(activity_from_the_new_task, "the restarted server reporting activity")
    return {
        "looks": looks,
        "activity": activity,
        "forbidden": [line for line in hub_log_lines(killed_at) if " 403 " in line],
    }


def stopped() -> dict:
    api("DELETE", f"/users/{STUDENT}/server")
    until(lambda: server(STUDENT) is None, "the student's server stopped")
    return {"service_left": service_exists(STUDENT)}


if __name__ == "__main__":
    until_the_hub_answers()
    print(
        json.dumps(
            {
                "no_room": no_room(),
                "restarted": killed_and_restarted_by_the_swarm(),
                "stopped": stopped(),
            }
        )
    )
