"""camphub's system-wide settings of a student's Jupyter server (jupyterhub-singleuser reads them).

No SQLite database on the student's home: the home is on NFS, where SQLite's locking is
unreliable (a "database is locked" save, a corrupted file) and every write is a round trip to
the NFS server. The server's databases stay in its memory or on the container's own disk.
"""

c = get_config()  # noqa: F821
# The signatures of the notebooks the student trusts (default ~/.local/share/jupyter/
# nbsignatures.db). The server lives exactly as long as its container and that container's disk,
# so a file there would not outlast memory.
c.NotebookNotary.db_file = ":memory:"
