import Testing
@testable import HSNNOps
