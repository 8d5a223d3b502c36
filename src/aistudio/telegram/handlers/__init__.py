"""One router per feature; `aistudio.telegram.dispatcher.ROUTERS` decides their order."""
