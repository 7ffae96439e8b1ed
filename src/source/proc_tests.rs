use super::*;

#[test]
fn pid_file_text() {
    assert_eq!(parse_pid("1234\n"), Some(1234));
    assert_eq!(parse_pid("  42 extra"), Some(42));
    assert_eq!(parse_pid(""), None);
    assert_eq!(parse_pid("-5"), None);
    assert_eq!(parse_pid("0"), None);
    assert_eq!(parse_pid("abc"), None);
}
