import AsyncHTTPClient
import Crypto
import Foundation
import KairanCore
import NIOCore
import NIOHTTP1

/// Where an S3-compatible bucket is and how to sign for it.
public struct S3Configuration: Sendable, Equatable {
    /// `https://s3.ap-northeast-1.amazonaws.com`, `http://127.0.0.1:9000` (MinIO, Ceph RGW,
    /// Garage…): the bucket goes in the path, which every S3-compatible store understands.
    public var endpoint: String
    public var bucket: String
    public var region: String
    public var accessKey: String
    public var secretKey: String
    /// Keys are stored under this prefix in the bucket (`kairan/` by default), so the bucket
    /// can hold other things too.
    public var prefix: String

    public init(endpoint: String, bucket: String, region: String, accessKey: String, secretKey: String, prefix: String = "kairan/") {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.bucket = bucket
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.prefix = prefix
    }
}

/// Attachments in an S3-compatible object store, signed with AWS Signature Version 4.
///
/// A PUT answered 200 is durable by the store's own promise. The payload's SHA-256 is signed
/// with it (it is the key itself), so a body damaged on the way is refused by the store.
public struct S3FileStore: FileStore {
    public let configuration: S3Configuration
    let http: HTTPClient
    let timeout: TimeAmount
    /// From the endpoint, once: its scheme, the Host header as the client will send it
    /// (without a port that is the scheme's own, or the signature would not match), and the
    /// bucket's path.
    let scheme: String
    let host: String
    let bucketPath: String
    let signer: S3Signer

    public init(_ configuration: S3Configuration, http: HTTPClient = .shared, timeout: TimeAmount = .seconds(30)) {
        self.configuration = configuration
        self.http = http
        self.timeout = timeout
        let url = URLComponents(string: configuration.endpoint)
        scheme = url?.scheme ?? "http"
        let defaultPort = scheme == "https" ? 443 : 80
        host = (url?.host ?? "") + (url?.port.flatMap { $0 == defaultPort ? nil : ":\($0)" } ?? "")
        bucketPath = (url?.path ?? "") + "/" + S3Signer.encode(configuration.bucket)
        signer = S3Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
    }

    /// The object's path: `/bucket/prefix+key`, each segment already URI-safe.
    func objectPath(_ key: FileKey) -> String {
        bucketPath + "/" + S3Signer.encode(configuration.prefix + key.hex, keepSlash: true)
    }

    func request(_ method: HTTPMethod, _ key: FileKey, payloadHash: String, extra: [(String, String)] = []) -> HTTPClientRequest {
        request(method, path: objectPath(key), payloadHash: payloadHash, extra: extra)
    }

    /// A signed request for `path` on the endpoint (the tests make their bucket with it).
    func request(_ method: HTTPMethod, path: String, payloadHash: String, extra: [(String, String)] = []) -> HTTPClientRequest {
        var headers: [(String, String)] = [("host", host), ("x-amz-content-sha256", payloadHash)] + extra
        let (_, authorization) = signer.authorization(method: method.rawValue, path: path, query: "", headers: &headers, payloadHash: payloadHash,
                                                      now: Date())
        var request = HTTPClientRequest(url: "\(scheme)://\(host)\(path)")
        request.method = method
        for (name, value) in headers where name != "host" { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Authorization", value: authorization)
        return request
    }

    public func put(_ key: FileKey, bytes: ByteBuffer, contentType: String) async throws {
        var request = request(.PUT, key, payloadHash: key.hex, extra: [("content-type", contentType)])
        request.headers.add(name: "Content-Length", value: "\(bytes.readableBytes)")
        request.body = .bytes(bytes)
        let response = try await http.execute(request, timeout: timeout)
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw FileStoreError.remote(status: Int(response.status.code), operation: "PUT") }
    }

    public func open(_ key: FileKey) async throws -> StoredFile? {
        // The deadline covers the body too: long enough for a 20 MB file to a slow phone.
        let response = try await http.execute(request(.GET, key, payloadHash: S3Signer.emptyPayloadHash), timeout: .minutes(10))
        if response.status == .notFound {
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return nil
        }
        guard response.status == .ok else {
            _ = try? await response.body.collect(upTo: 64 * 1024)
            throw FileStoreError.remote(status: Int(response.status.code), operation: "GET")
        }
        guard let length = response.headers.first(name: "Content-Length").flatMap(Int.init) else {
            throw FileStoreError.remote(status: 200, operation: "GET without Content-Length")
        }
        // Pulled as the response is written (AHC's body has back-pressure): a slow reader
        // holds a piece of the object, not all of it.
        let reader = BodyReader(response.body.makeAsyncIterator(), length: length, key: key)
        let chunks = AsyncThrowingStream<ByteBuffer, any Error>(unfolding: { try await reader.next() })
        return StoredFile(byteCount: length, chunks: chunks)
    }

    public func delete(_ key: FileKey) async throws {
        let response = try await http.execute(request(.DELETE, key, payloadHash: S3Signer.emptyPayloadHash), timeout: timeout)
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) || response.status == .notFound else {
            throw FileStoreError.remote(status: Int(response.status.code), operation: "DELETE")
        }
    }
}

/// An object's body read by its one consumer, piece by piece.
private final class BodyReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let length: Int
    private let key: FileKey
    private var total = 0

    init(_ iterator: HTTPClientResponse.Body.AsyncIterator, length: Int, key: FileKey) {
        self.iterator = iterator
        self.length = length
        self.key = key
    }

    func next() async throws -> ByteBuffer? {
        guard let chunk = try await iterator.next() else {
            if total != length { throw FileStoreError.corrupt(key) }
            return nil
        }
        total += chunk.readableBytes
        return chunk
    }
}

/// AWS Signature Version 4 for S3 requests with signed headers (the `Authorization` header
/// form, not presigned URLs).
public struct S3Signer: Sendable {
    public let accessKey: String
    public let secretKey: String
    public let region: String
    public var service = "s3"

    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(accessKey: String, secretKey: String, region: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
    }

    /// Adds `x-amz-date` to `headers` and returns it with the `Authorization` value. Every
    /// header in `headers` is signed; `path` is already URI-encoded, `query` is canonical.
    public func authorization(method: String, path: String, query: String, headers: inout [(String, String)], payloadHash: String,
                              now: Date) -> (amzDate: String, value: String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let amzDate = formatter.string(from: now)
        let day = String(amzDate.prefix(8))
        if !headers.contains(where: { $0.0.lowercased() == "x-amz-date" }) { headers.append(("x-amz-date", amzDate)) }
        let canonical = headers
            .map { ($0.0.lowercased(), $0.1.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.0 < $1.0 }
        let signedHeaders = canonical.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method, path, query,
            canonical.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))].joined(separator: "\n")
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        let signingKey = hmac(hmac(hmac(hmac(SymmetricKey(data: Data("AWS4\(secretKey)".utf8)), day), region), service), "aws4_request")
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: signingKey))
        return (amzDate, "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)")
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 0x0F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (S3's rule for paths).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        PercentEncoding.unreserved(text, keepSlash: keepSlash)
    }
}
