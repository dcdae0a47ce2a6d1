// HSNNMath module.
