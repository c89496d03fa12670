"""Web UI and read API: pages and JSON over data the other modules own."""
