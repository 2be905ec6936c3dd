"""Samples the hub's and the proxy's containers on the hub machine until its stdin closes.

    sudo python3 hub_sampler.py INTERVAL_SECONDS HUB_CONTAINER PROXY_CONTAINER

Runs on the hub machine (Debian's python3, standard library only), started and stopped by
bench/class_start.py over SSH. Every INTERVAL_SECONDS it prints one JSON line: the monotonic
time and, for each part, its processes' CPU seconds so far and resident memory in bytes:
{"t": 12.5, "hub": [3.2, 190000000], "proxy": [...], "services": [...]}. "hub" is JupyterHub
itself (its container's main process), "services" the rest of that container (the idle
culler), "proxy" configurable-http-proxy's container. Reading /proc costs a few milliseconds per
sample.
"""

import json
import os
import subprocess
import sys
import threading
import time

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def container_main_pid(name):
    inspect = ["docker", "inspect", "--format", "{{.State.Pid}}", name]
    return int(subprocess.run(inspect, capture_output=True, text=True, check=True).stdout)


def process_table():
    """{pid: (parent pid, cpu seconds, resident bytes)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue  # gone between listdir and open
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, user_ticks, system_ticks, rss_pages = (
            int(fields[1]),
            int(fields[11]),
            int(fields[12]),
            int(fields[21]),
        )
        cpu = (user_ticks + system_ticks) / TICKS_PER_SECOND
        table[int(entry)] = (parent, cpu, rss_pages * PAGE_BYTES)
    return table


def sample(hub_pid, proxy_pid):
    table = process_table()
    children = {}
    for pid, (parent, *_) in table.items():
        children.setdefault(parent, []).append(pid)
    parts = {"hub": [0.0, 0], "proxy": [0.0, 0], "services": [0.0, 0]}
    todo = [(hub_pid, "hub"), (proxy_pid, "proxy")]
    while todo:
        pid, part_name = todo.pop()
        if pid not in table:
            continue
        _, cpu, rss = table[pid]
        parts[part_name][0] += cpu
        parts[part_name][1] += rss
        below = "services" if part_name == "hub" else part_name
        todo.extend((child, below) for child in children.get(pid, []))
    return {"t": time.monotonic(), **parts}


def main(interval, hub_container, proxy_container):
    pids = (container_main_pid(hub_container), container_main_pid(proxy_container))
    stdin_closed = threading.Event()

    def wait_for_stdin_to_close():
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
    while True:
        print(json.dumps(sample(*pids)), flush=True)
        if stdin_closed.wait(interval):
            print(json.dumps(sample(*pids)), flush=True)
            return


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2], sys.argv[3])
