// BLASRuntime module.
