"""HTTP edge of the control plane: the FastAPI app, routes by audience, authentication
dependencies and the ONE mapping from domain errors to statuses. Nothing below imports it."""
