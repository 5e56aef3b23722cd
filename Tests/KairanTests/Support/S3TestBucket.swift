import AsyncHTTPClient
import Crypto
import Foundation
import KairanFiles
import NIOCore

/// Makes a bucket on the test suite's S3-compatible server (the store itself never creates
/// buckets: a town's operator does).
enum S3TestBucket {
    static func create(_ configuration: S3Configuration) async throws {
        let url = URLComponents(string: configuration.endpoint)!
        let host = url.host! + (url.port.map { ":\($0)" } ?? "")
        var headers = [("host", host), ("x-amz-content-sha256", S3Signer.emptyPayloadHash)]
        let signer = S3Signer(accessKey: configuration.accessKey, secretKey: configuration.secretKey, region: configuration.region)
        let path = "/" + configuration.bucket
        let (_, authorization) = signer.authorization(method: "PUT", path: path, query: "", headers: &headers,
                                                      payloadHash: S3Signer.emptyPayloadHash, now: Date())
        var request = HTTPClientRequest(url: configuration.endpoint + path)
        request.method = .PUT
        for (name, value) in headers where name != "host" { request.headers.add(name: name, value: value) }
        request.headers.add(name: "Authorization", value: authorization)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else { throw S3TestError(message: "create bucket: \(response.status) \(String(buffer: body))") }
    }
}

struct S3TestError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

enum SHA256Hex {
    static func of(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
