// HSNNModel module.
