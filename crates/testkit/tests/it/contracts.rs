//! Every adapter against the contract suite of its port.
