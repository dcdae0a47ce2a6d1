import CRdkafka
import Logging
import Synchronization

// The C callbacks the client registers with librdkafka. Each has the exact C signature
// librdkafka expects; the context arrives as the opaque pointer set on the configuration (for
// the log callback, through `rd_kafka_opaque`).

func rdkafkaLogCallback(
    _ handle: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ line: UnsafePointer<CChar>?
) {
    guard let handle, let opaque = rd_kafka_opaque(handle), let line else { return }
    let context = RDKafkaCallbackContext.from(opaque)
    let facilityName = facility.map { String(cString: $0) } ?? ""
    context.logger.log(
        level: RDKafkaClient.logLevel(syslog: level), "\(String(cString: line))",
        metadata: [
            "kafka.facility": "\(facilityName)",
            "kafka.client": "\(String(cString: rd_kafka_name(handle)))",
        ])
}

func rdkafkaErrorCallback(
    _ handle: OpaquePointer?, _ error: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let handle, let opaque else { return }
    let context = RDKafkaCallbackContext.from(opaque)
    let code = rd_kafka_resp_err_t(rawValue: error)
    var text = reason.map { String(cString: $0) } ?? RDKafkaClient.errorMessage(code)
    var name = RDKafkaClient.errorName(code)
    let level: Logger.Level
    if code == RD_KAFKA_RESP_ERR__FATAL {
        var fatalReason = [CChar](repeating: 0, count: 512)
        name = RDKafkaClient.errorName(rd_kafka_fatal_error(handle, &fatalReason, fatalReason.count))
        text = String(decoding: fatalReason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        level = .error
    } else if code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN {
        level = .warning
    } else {
        // Transient errors librdkafka retries by itself; its log line already says more.
        level = .info
    }
    context.logger.log(
        level: level, "librdkafka error: \(text)",
        metadata: ["kafka.error": "\(name)", "kafka.client": "\(String(cString: rd_kafka_name(handle)))"])
    context.onError?(name, text, code == RD_KAFKA_RESP_ERR__FATAL)
}

func rdkafkaStatisticsCallback(
    _ handle: OpaquePointer?, _ json: UnsafeMutablePointer<CChar>?, _ length: Int, _ opaque: UnsafeMutableRawPointer?
) -> Int32 {
    guard let opaque, let json else { return 0 }
    RDKafkaCallbackContext.from(opaque).onStatistics?(UnsafeRawBufferPointer(start: json, count: length))
    return 0  // librdkafka frees the JSON buffer
}

func rdkafkaRebalanceCallback(
    _ handle: OpaquePointer?, _ error: rd_kafka_resp_err_t,
    _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let handle, let partitions, let opaque else { return }
    let context = RDKafkaCallbackContext.from(opaque)
    let rebalance = RDKafkaRebalance(handle: handle, error: error, list: partitions)
    if rebalance.kind == .assign { context.assignmentSeen.store(true, ordering: .releasing) }
    if let onRebalance = context.onRebalance {
        onRebalance(rebalance)
    } else {
        do {
            if rebalance.kind == .assign {
                _ = try rebalance.assign(startOffsets: [:])
            } else {
                try rebalance.unassign()
            }
        } catch {
            context.logger.error("rebalance failed: \(error)")
        }
    }
}

func rdkafkaDeliveryCallback(
    _ handle: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let opaque else { return }
    let context = RDKafkaCallbackContext.from(opaque)
    let fields = message.pointee
    let failed = fields.err != RD_KAFKA_RESP_ERR_NO_ERROR
    let delivery = RDKafkaDelivery(
        messageID: UInt64(UInt(bitPattern: fields._private)),
        topic: fields.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "",
        partition: fields.partition,
        offset: fields.offset,
        // Not rd_kafka_message_errstr: for a delivery report it returns the message's payload,
        // which is not NUL-terminated.
        error: failed ? (RDKafkaClient.errorName(fields.err), RDKafkaClient.errorMessage(fields.err)) : nil)
    context.onDelivery?(delivery)
}

func rdkafkaCommitCallback(
    _ handle: OpaquePointer?, _ error: rd_kafka_resp_err_t,
    _ offsets: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, _ opaque: UnsafeMutableRawPointer?
) {
    guard let opaque else { return }
    let context = RDKafkaCallbackContext.from(opaque)
    let committed = offsets.map { RDKafkaTopicPartitionList.partitions(of: $0) } ?? []
    if error != RD_KAFKA_RESP_ERR_NO_ERROR, error != RD_KAFKA_RESP_ERR__NO_OFFSET {
        context.logger.warning(
            "asynchronous offset commit failed: \(RDKafkaClient.errorMessage(error))",
            metadata: ["kafka.error": "\(RDKafkaClient.errorName(error))", "kafka.partitions": "\(committed)"])
    } else {
        context.logger.trace("offsets committed", metadata: ["kafka.partitions": "\(committed)"])
    }
}

extension RDKafkaClient {
    /// librdkafka's syslog levels to swift-log levels.
    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: .critical  // emerg, alert, crit
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }
}
