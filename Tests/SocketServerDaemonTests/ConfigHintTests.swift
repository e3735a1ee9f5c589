// The hints for the usual slips: a key written in the wrong kind of section, a comment without
// the whitespace before its ';' or '#'.
import Foundation
@testable import SocketServerDaemon
import XCTest

final class ConfigHintTests: XCTestCase {
    /// A key of another kind of section says where it belongs (before any "did you mean").
    func testMisplacedKeysSayWhereTheyBelong() {
        assertConfigErrors("""
            [daemon]
            listen = tcp://127.0.0.1:7000
            workers = 2
            path = /x.so
            [service a]
            listen = tcp://127.0.0.1:7000
            handler = echo
            user = nobody
            log_level = debug
            [plugin p]
            handler = echo
            """, [
            "main.conf:2: unknown key 'listen' (it belongs in a [service NAME] section)",
            "main.conf:3: unknown key 'workers' (it belongs in a [service NAME] section)",
            "main.conf:4: unknown key 'path' (it belongs in a [plugin NAME] section)",
            "main.conf:8: unknown key 'user' (it belongs in [daemon])",
            "main.conf:9: unknown key 'log_level' (it belongs in [daemon])",
            "main.conf:10: plugin 'p' is missing the required key 'path'",
            "main.conf:11: unknown key 'handler' (it belongs in a [service NAME] section)",
        ])
    }

    /// `;` and `#` start a comment only after whitespace: an error about a value holding one says so.
    func testValueWithAnUnspacedCommentGetsAHint() {
        assertConfigErrors("""
            [daemon]
            include = extra.conf;old
            log_level = info;the default
            [service a]
            listen = tcp://127.0.0.1:7000  ; this one is a comment
            handler = echo
            workers = 2#two
            allow = 127.0.0.1;localhost
            """, [
            "main.conf:2: include 'extra.conf;old': \(FileManager.default.currentDirectoryPath)/extra.conf;old does not exist "
                + "(if ';old' is meant as a comment, it needs a space before ';')",
            "main.conf:3: unknown log_level 'info;the default' (expected debug, info, warning or error) "
                + "(if ';the default' is meant as a comment, it needs a space before ';')",
            "main.conf:7: workers must be an integer from 1 to 1024, got '2#two' "
                + "(if '#two' is meant as a comment, it needs a space before '#')",
            "main.conf:8: allow entry '127.0.0.1;localhost' is not an IPv4 or IPv6 address or network "
                + "(such as 10.0.0.0/8 or fd00::/8) "
                + "(if ';localhost' is meant as a comment, it needs a space before ';')",
        ])
    }
}
