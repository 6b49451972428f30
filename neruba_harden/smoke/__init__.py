"""The post-deploy smoke sequence: events, client, steps, runner and outcome classifier."""
