"""Accepts TCP connections on every port given, at every address of this machine, and
answers each with one line naming the port: a stand-in for whatever a real machine serves
there (sshd, NFS, swarm, the metadata service). Runs until killed.

    python3 listener.py 22 2049 2377
"""

import socket
import sys
import threading


def serve(port: int) -> None:
    listener = socket.create_server(("", port), family=socket.AF_INET, reuse_port=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(f"port {port}\n".encode())


def main(ports: list[int]) -> None:
    threads = [threading.Thread(target=serve, args=(port,), daemon=True) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main([int(port) for port in sys.argv[1:]])
