"""camphub's Pulumi program: a JupyterHub for a one-week camp on AWS."""
