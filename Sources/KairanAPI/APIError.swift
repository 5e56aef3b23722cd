import Foundation
import Hummingbird
import KairanCore
import KairanServices

/// Every failure a client sees: `{"error": {"code": "...", "message": "..."}}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    /// In English, as written where the error is raised.
    public let message: String
    public var field: String?
    /// In Japanese when the catalogue's words for `code` would leave out something the
    /// client needs (see `ErrorText`).
    public var japanese: String?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil, japanese: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.japanese = japanese
    }

    /// The message in the language the client asked for (Japanese unless it prefers English).
    public func message(in language: MessageLanguage) -> String {
        language == .en ? message : japanese ?? ErrorText.japanese(code: code, field: field)
    }

    public static let unauthenticated = APIError(.unauthorized, code: "unauthenticated", message: "a valid bearer token is required")
    public static let notFound = APIError(.notFound, code: "not_found", message: "no such resource")

    /// The database is away (restarting, frozen, unreachable). A write cancelled before its
    /// commit is rolled back; one whose commit was already on its way may have been kept, so
    /// the message does not promise either.
    public static var databaseUnavailable: APIError {
        var error = APIError(.serviceUnavailable, code: "database_unavailable",
                             message: "the database is not reachable; check whether your change was saved before trying again")
        error.headers[.retryAfter] = "5"
        return error
    }

    /// The request took longer than the server allows (see `databaseUnavailable`).
    public static var timedOut: APIError {
        var error = APIError(.serviceUnavailable, code: "timeout",
                             message: "the server could not answer in time; check whether your change was saved before trying again")
        error.headers[.retryAfter] = "5"
        return error
    }

    /// The server is busy and did not start the request (see `AdmissionGate`): nothing was
    /// done, so trying again after `Retry-After` is safe.
    public static var overloaded: APIError {
        APIError(.serviceUnavailable, code: "overloaded", message: "the server is busy and did not start this request; try again after Retry-After seconds")
    }

    /// The client closed its connection before the answer (nginx's 499): the work it asked
    /// for was stopped before it committed. Only the log sees this status.
    public static var clientClosed: APIError {
        APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), code: "client_closed", message: "the client closed the connection")
    }

    public static func forbidden(_ reason: String) -> APIError { APIError(.forbidden, code: "forbidden", message: reason) }
    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, code: "bad_request", message: message) }

    /// A use case's refusal as the JSON API says it.
    public init(_ error: ServiceError) {
        switch error {
        case .notFound: self = .notFound
        case .forbidden(let reason): self = .forbidden(reason)
        case .unauthenticated: self = .unauthenticated
        case .invalidCredentials: self = APIError(.unauthorized, code: "invalid_credentials", message: "email or password is incorrect")
        case .conflict(let code, let message, let field): self = APIError(.conflict, code: code, message: message, field: field)
        case .missing(let code, let message): self = APIError(.notFound, code: code, message: message)
        case .refused(let code, let message): self = APIError(.forbidden, code: code, message: message)
        case .invalid(let code, let message, let field): self = APIError(.unprocessableContent, code: code, message: message, field: field)
        case .fileRefused(let code, let message, let unsupportedType):
            self = APIError(unsupportedType ? .unsupportedMediaType : .contentTooLarge, code: code, message: message)
        case .rateLimited(let action, let retryAfter):
            self = APIError(.tooManyRequests, code: "rate_limited", message: "too many \(action) requests; try again in \(retryAfter) s",
                            japanese: "試行が多すぎます。\(retryAfter) 秒ほど待ってから、もう一度お試しください。")
            headers[.retryAfter] = String(retryAfter)
        }
    }

    public static func validation(_ error: ValidationError) -> APIError {
        APIError(.unprocessableContent, code: error.code, message: error.message, field: error.field, japanese: error.japanese)
    }

    /// The policy's answer as an error, or nothing when allowed.
    public static func check(_ decision: Decision) throws {
        switch decision {
        case .allow: return
        case .deny(let reason): throw APIError.forbidden(reason)
        case .hidden: throw APIError.notFound
        }
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            let code: String
            let message: String
            let field: String?
        }
        let error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse(for: request)
    }

    /// The JSON body, its message in the language the request's `Accept-Language` prefers.
    func makeResponse(for request: Request) -> Response {
        makeResponse(in: MessageLanguage.negotiate(request.headers[.acceptLanguage]))
    }

    func makeResponse(in language: MessageLanguage) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Three strings in a fixed shape: encoding cannot fail.
        let data = (try? encoder.encode(Body(error: .init(code: code, message: message(in: language), field: field)))) ?? Data()
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLanguage] = language.rawValue
        headers[values: .vary].append("Accept-Language")
        headers[.contentLength] = String(data.count)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
