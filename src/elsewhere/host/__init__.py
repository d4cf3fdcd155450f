"""The host side: an API client and the agent that registers, polls, runs keeps, reports."""
