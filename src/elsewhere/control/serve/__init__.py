"""Process supervision: uvicorn in this process, in a thread, or in N worker processes."""
