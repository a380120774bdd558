"""AWS Lambda adapter: translates Lambda events into core calls and core results into Lambda answers."""
