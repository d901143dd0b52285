"""The pure core: data and time in, data and effects out. No network, disk or clock here."""
