import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization
import HSNNSupport

/// Limits on the operations listener's connections (`http.*_timeout_ms`, `http.max_connections`).
public struct ConnectionLimits: Sendable, Hashable {
    /// Longest a client may take to send a request's line and headers, counted from the
    /// connection opening or from the first byte of the request.
    public var headerTimeout: Duration
    /// Longest a whole request (headers and body) may take to arrive.
    public var readTimeout: Duration
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: Duration
    /// Most connections open at once; further ones are closed when accepted.
    public var maxConnections: Int

    public init(headerTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(30),
                idleTimeout: Duration = .seconds(60), maxConnections: Int = 64) {
        self.headerTimeout = headerTimeout
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}

/// Counts open connections against ``ConnectionLimits/maxConnections``.
final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Takes a slot; false when all are taken.
    func acquire() -> Bool {
        while true {
            let current = open.load(ordering: .relaxed)
            guard current < limit else { return false }
            if open.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing).exchanged {
                return true
            }
        }
    }

    func release() { open.subtract(1, ordering: .relaxed) }

    var count: Int { open.load(ordering: .relaxed) }
}

/// Hummingbird's HTTP/1 child channel with a connection cap and request timeouts in front.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
        inner = HTTP1Channel(responder: responder, configuration: .init(
            additionalChannelHandlers: [RequestProgressHandler()],
            idleTimeout: .nanoseconds(limits.idleTimeout.inNanoseconds)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard counter.acquire() else {
            logger.debug("operations HTTP connection refused: http.max_connections reached",
                         metadata: ["http.max_connections": "\(counter.limit)"])
            channel.close(mode: .all, promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        let counter = self.counter
        channel.closeFuture.whenComplete { _ in counter.release() }
        let limits = self.limits
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(limits: limits), position: .first)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose request head or whole request takes too long to arrive.
///
/// Sits first in the pipeline and sees raw bytes: the connection opening, or the first byte
/// of a request after the previous response, starts both clocks; ``RequestProgressHandler``,
/// after the HTTP decoder, stops them when the head and the end of the request are parsed.
/// Between requests Hummingbird's idle timeout applies. Runs on the channel's event loop only.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limits: ConnectionLimits
    private var context: ChannelHandlerContext?
    private var headerDeadline: Scheduled<Void>?
    private var readDeadline: Scheduled<Void>?
    /// Between requests: the next byte starts a new request.
    private var awaitingRequest = true

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startClocks() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startClocks()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if awaitingRequest { startClocks() }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    /// The request line and headers were parsed.
    func headReceived() {
        headerDeadline?.cancel()
        headerDeadline = nil
    }

    /// The whole request arrived.
    func requestReceived() { cancel() }

    /// The response was written: the next byte starts a new request.
    func responseSent() { awaitingRequest = true }

    private func startClocks() {
        guard let context, awaitingRequest else { return }
        awaitingRequest = false
        cancel()
        let loop = context.eventLoop
        headerDeadline = loop.scheduleTask(in: .nanoseconds(limits.headerTimeout.inNanoseconds)) { [weak self] in
            self?.context?.close(promise: nil)
        }
        readDeadline = loop.scheduleTask(in: .nanoseconds(limits.readTimeout.inNanoseconds)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    private func cancel() {
        headerDeadline?.cancel()
        readDeadline?.cancel()
        headerDeadline = nil
        readDeadline = nil
    }
}

/// Sees parsed request parts and written response parts, and reports progress to the
/// ``RequestDeadlineHandler`` at the front of the same pipeline.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadlines(context)?.headReceived()
        case .body: break
        case .end: deadlines(context)?.requestReceived()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { deadlines(context)?.responseSent() }
        context.write(data, promise: promise)
    }

    private func deadlines(_ context: ChannelHandlerContext) -> RequestDeadlineHandler? {
        try? context.pipeline.syncOperations.handler(type: RequestDeadlineHandler.self)
    }
}
