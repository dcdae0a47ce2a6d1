extension ModelBenchmark {
    /// Training throughput of one configuration.
    public struct TrainingResult: Sendable, Hashable, Codable {
        public var kind: String
        public var examples: Int
        public var batchSize: Int
        public var seconds: Double
        public var examplesPerSecond: Double
        /// Multiply-accumulates of one example's forward pass (dense layers, dot products, LTI).
        public var forwardMacsPerExample: Int
        /// Model rows per example: the impression plus, for a click, its retrieval negatives.
        public var rowsPerExample: Double = 1
        /// Training FLOPs per example: 6 x forward MACs (forward 2, backward 4), over every row.
        public var flopsPerExample: Double
        public var achievedGflops: Double
        public var blasThreads: Int
        public var blasCore: String
    }

    /// Training throughput next to a `cblas_sgemm` peak measured in the same run.
    public struct TrainingAgainstPeak: Sendable, Hashable {
        public var training: TrainingResult
        /// Median GFLOP/s of the sgemm peak measurement.
        public var peakGflops: Double
        /// Achieved GFLOP/s over the peak (0 when the peak is 0).
        public var shareOfPeak: Double {
            peakGflops > 0 ? training.achievedGflops / peakGflops : 0
        }
    }

    /// Retrieval latency at one corpus size.
    public struct RetrievalResult: Sendable, Hashable, Codable {
        public var items: Int
        public var mode: String
        public var nodes: [Int]
        public var beam: [Int]
        public var queries: Int
        public var p50Ms: Double
        public var p99Ms: Double
        public var meanMs: Double
        public var itemsScoredPerQuery: Double
        public var nodesScoredPerQuery: Double
        public var buildSeconds: Double
    }
}
