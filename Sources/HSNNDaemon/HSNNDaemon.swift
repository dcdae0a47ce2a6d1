// HSNNDaemon module.
