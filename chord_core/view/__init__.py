"""The 3D web viewer: flows, plans and runs in a browser (viser), and pictures of it (Chromium)."""
