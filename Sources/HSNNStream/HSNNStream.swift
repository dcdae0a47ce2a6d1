// HSNNStream module.
