"""camphub's system-wide IPython settings: the students' kernels and IPython in a terminal."""

c = get_config()  # noqa: F821
# The input history is an SQLite database (default ~/.ipython/profile_default/history.sqlite);
# on the NFS home its locking is unreliable and each cell would write to the NFS server. On the
# container's disk (made by the Dockerfile) it still survives a kernel restart.
c.HistoryManager.hist_file = "/var/lib/ipython/history.sqlite"
