"""The servers API: its request and response models (`models`), the Hetzner mapping of compute's
answers (`mapping`) and the routes (`routes`)."""
