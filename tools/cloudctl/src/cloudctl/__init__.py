"""cloudctl: the operators' command line of Cloud Platform."""
