"""The platform's own VNC console endpoint: single-use tickets relayed to upstream's websocket."""
