import Foundation
import Hummingbird
import KairanCore
import KairanServices
import KairanStore
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO

/// Turns every error into the JSON error body, so a client never sees an HTML page or an
/// empty 500, including for unknown routes and framework-level failures (413, 404).
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.makeResponse(for: request)
        } catch let error as ValidationError {
            return APIError.validation(error).makeResponse(for: request)
        } catch let error as ServiceError {
            return APIError(error).makeResponse(for: request)
        } catch is HTTPParserError {
            // The body did not parse (a broken chunk): the head did, so the route was
            // reading it. The connection is closed after this answer.
            var response = APIError.badRequest("the request body could not be parsed as HTTP/1.1").makeResponse(for: request)
            response.headers[.connection] = "close"
            return response
        } catch let error as any HTTPResponseError {
            return Self.translate(error).makeResponse(for: request)
        } catch where Database.isUnavailable(error) {
            // The database is restarting or unreachable, or the request ran out of time
            // waiting for it: nothing was written (a transaction cancelled before its
            // commit rolls back), and the client may try again.
            if (error as? PSQLError)?.serverInfo?[.sqlState] == "53100" {
                // Every write fails until someone frees space: for the operator, not a blip.
                context.logger.error("database disk full: writes are refused until space is freed", metadata: Self.safeMetadata(for: error))
            } else {
                context.logger.warning("database unavailable", metadata: Self.safeMetadata(for: error))
            }
            return APIError.databaseUnavailable.makeResponse(for: request)
        } catch {
            // Only the error's kind goes to the log: its description may quote user input.
            context.logger.error("unhandled error", metadata: Self.safeMetadata(for: error))
            return APIError(.internalServerError, code: "internal", message: "the server could not complete the request").makeResponse(for: request)
        }
    }

    /// What may be logged about an unexpected error: its type, and for database errors the
    /// SQLSTATE and constraint. Never the server's message or detail, which can quote values.
    static func safeMetadata(for error: any Error) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["error_type": "\(type(of: error))"]
        if let error = error as? PSQLError {
            metadata["psql_code"] = "\(error.code)"
            if let sqlState = error.serverInfo?[.sqlState] { metadata["sqlstate"] = "\(sqlState)" }
            if let constraint = error.serverInfo?[.constraintName] { metadata["constraint"] = "\(constraint)" }
            if let routine = error.serverInfo?[.routine] { metadata["pg_routine"] = "\(routine)" }
        }
        return metadata
    }

    static func translate(_ error: any HTTPResponseError) -> APIError {
        let status = error.status
        let message = (error as? HTTPError)?.body
        var translated: APIError
        switch status.code {
        case 400: translated = APIError(status, code: "bad_request", message: message ?? "the request is malformed")
        case 401: translated = .unauthenticated
        case 403: translated = APIError(status, code: "forbidden", message: message ?? "not allowed")
        case 404: translated = APIError(status, code: "not_found", message: "no such route or resource")
        case 405: translated = APIError(status, code: "method_not_allowed", message: message ?? "method not allowed on this route")
        case 413: translated = APIError(status, code: "payload_too_large", message: "request body exceeds \(Limits.maxJSONBodyBytes) bytes")
        case 415: translated = APIError(status, code: "unsupported_media_type", message: message ?? "unsupported content type")
        default: translated = APIError(status, code: "http_\(status.code)", message: message ?? status.reasonPhrase)
        }
        if let httpError = error as? HTTPError { translated.headers = httpError.headers }
        return translated
    }
}

/// A request context that knows its connection.
public protocol ConnectionRequestContext: RequestContext {
    var channel: any Channel { get }
}

/// Every request is answered within `timeout`, whatever the database does: a request
/// still running then is cancelled (which abandons its database wait or query, see
/// `Database.withConnection`) and answered 503 with `Retry-After`. A request whose client
/// closed the connection is cancelled too (`HTTPParseErrorResponder` closes the channel
/// when the client's side ends before its answer): a write not yet committed is rolled
/// back, so a resident who gave up and posts again does not post twice.
///
/// The handler runs as a child task so that it can be cancelled without cancelling the
/// connection's task (whose writer would then refuse the 503); the group waits for it to
/// end, which cancellation makes prompt, so nothing outlives the request. One sweep per
/// process watches every running request (`RunningRequests`).
public struct RequestDeadlineMiddleware<Context: ConnectionRequestContext>: RouterMiddleware {
    let timeout: Duration
    let running: RunningRequests

    public init(timeout: Duration) {
        self.timeout = timeout
        // How often the running requests are looked at: how late a deadline or a client
        // that left is noticed.
        self.running = RunningRequests(interval: .milliseconds(100))
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // An upload may take longer to arrive (a 20 MB scan from a phone), still bounded.
        let timeout = UploadRoutes.contains(request) ? max(self.timeout, UploadRoutes.timeout) : self.timeout
        let deadline = ContinuousClock.now + timeout
        let channel = context.channel
        // A connection that was never active (the framework's in-process test channel)
        // has no client that could leave.
        let connection: (any Channel)? = channel.isActive ? channel : nil
        let running = self.running
        let (result, verdict) = await withoutActuallyEscaping(next) { next in
            // The group ends before `handle` returns, so `next` never outlives this call,
            // and only the one child task calls it.
            let handler = UnsafeHandler(next: next)
            return await withTaskGroup(of: (Result<Response, any Error>, RunningRequests.Verdict?).self) { group in
                group.addTask {
                    let id = running.begin(deadline: deadline, connection: connection)
                    let result: Result<Response, any Error>
                    do {
                        result = .success(try await handler.next(request, context))
                    } catch {
                        result = .failure(error)
                    }
                    return (result, running.end(id))
                }
                return await group.next()!
            }
        }
        switch verdict {
        case nil:
            return try result.get()
        case .timedOut:
            context.logger.warning("request ran out of time", metadata: ["timeout": "\(timeout)"])
            throw APIError.timedOut
        case .clientClosed:
            context.logger.notice("client closed the connection; request stopped")
            throw APIError.clientClosed
        }
    }

    private struct UnsafeHandler: @unchecked Sendable {
        let next: (Request, Context) async throws -> Response
    }
}

/// One log line per request: id, method, route template, status, duration. Never the raw
/// path or query (tickets and tokens travel there), never bodies or addresses.
public struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response = try await next(request, context)
        response.headers[.init("X-Request-Id")!] = context.id
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info("request", metadata: [
            "method": "\(request.method.rawValue)",
            "route": "\(context.endpointPath ?? "unmatched")",
            "status": "\(response.status.code)",
            "duration_ms": "\(String(format: "%.1f", milliseconds))",
        ])
        return response
    }
}

/// Decodes JSON bodies strictly: `application/json` only (415), at most the context's upload
/// size (413), and a 400 that names the offending field.
public struct StrictJSONDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        guard let contentType = request.headers[.contentType].flatMap(MediaType.init(from:)),
              contentType.isType(.applicationJson)
        else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the body as application/json")
        }
        let limit = context.maxUploadSize
        let buffer = try await request.collectBody(
            upTo: limit, tooLarge: APIError(.contentTooLarge, code: "payload_too_large", message: "request body exceeds \(limit) bytes"))
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { decoder in
                let container = try decoder.singleValueContainer()
                let text = try container.decode(String.self)
                guard let date = RFC3339.date(text) else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 date-time")
                }
                return date
            }
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Self.describe(error)
        }
    }

    /// A body that did not decode, said in both languages and naming the field.
    static func describe(_ error: DecodingError) -> APIError {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        func refusal(_ message: String, field: String?, japanese: String) -> APIError {
            APIError(.badRequest, code: "bad_request", message: message, field: field, japanese: japanese)
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            let field = parent.isEmpty ? key.stringValue : parent + "." + key.stringValue
            return refusal("field '\(field)' is required", field: field, japanese: "\(ErrorText.fieldName(field))がありません。指定してください。")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            let name = Self.typeName(type)
            return refusal("field '\(field)' must be \(name.english)", field: field,
                           japanese: "\(ErrorText.fieldName(field))は\(name.japanese)で指定してください。")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return refusal("body is not valid JSON", field: nil, japanese: "本文が JSON として読めません。")
            }
            let field = path(context.codingPath)
            return refusal("field '\(field)' is invalid", field: field, japanese: "\(ErrorText.fieldName(field))の値が正しくありません。")
        @unknown default:
            return refusal("body could not be decoded", field: nil, japanese: "本文を読み取れませんでした。")
        }
    }

    /// A JSON type as the refusal names it, in English and in Japanese.
    static func typeName(_ type: Any.Type) -> (english: String, japanese: String) {
        switch type {
        case is String.Type: return ("a string", "文字列")
        case is Int.Type, is Int64.Type, is Int32.Type: return ("an integer", "整数")
        case is Bool.Type: return ("a boolean", "true か false")
        case is Double.Type: return ("a number", "数値")
        default: return ("of type \(type)", "正しい形")
        }
    }
}

extension Request {
    /// The whole body, at most `limit` bytes: a declared length over it is refused before a
    /// byte is read, a body that runs past it as soon as it does.
    func collectBody(upTo limit: Int, tooLarge: @autoclosure () -> APIError) async throws -> ByteBuffer {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge() }
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw tooLarge()
        }
    }
}
