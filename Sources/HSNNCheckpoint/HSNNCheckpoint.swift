// HSNNCheckpoint module.
