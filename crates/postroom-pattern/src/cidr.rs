//! IP addresses and CIDR blocks.
//!
//! The rules follow event-ruler, AWS's open-source implementation of these
//! patterns. A string is an IP address only when it looks like a dotted IPv4
//! quad or a colon-separated IPv6 address (hex digits and colons). A block
//! runs from the address as written, host bits kept, to that address with
//! every host bit set. Mask bits stop at 31 for IPv4 and 127 for IPv6.

use std::net::Ipv6Addr;

/// An IP address, kept by family so that the families never compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IpAddress {
    V4(u32),
    V6(u128),
}

/// The result of reading a string as an IP address.
enum IpText {
    /// An address in one of the accepted forms.
    Address(IpAddress),
    /// The string has the shape of an address but is not one (`999.1.1.1`).
    Invalid,
    /// The string does not have the shape of an address.
    NotAnAddress,
}

fn read_ip(text: &str) -> IpText {
    if looks_like_ipv4(text) {
        return match parse_ipv4(text) {
            Some(address) => IpText::Address(IpAddress::V4(address)),
            None => IpText::Invalid,
        };
    }
    if looks_like_ipv6(text) {
        return match text.parse::<Ipv6Addr>() {
            Ok(address) => IpText::Address(IpAddress::V6(u128::from(address))),
            Err(_) => IpText::Invalid,
        };
    }
    IpText::NotAnAddress
}

/// Reads an event or pattern string as an IP address, when it is one.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddress> {
    match read_ip(text) {
        IpText::Address(address) => Some(address),
        IpText::Invalid | IpText::NotAnAddress => None,
    }
}

/// Four runs of decimal digits separated by dots.
fn looks_like_ipv4(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// Hex digits and colons, with at least one colon.
fn looks_like_ipv6(text: &str) -> bool {
    text.contains(':') && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
}

/// Parses a dotted quad whose parts are decimal (leading zeros allowed, as
/// Java's address parser allows them) and at most 255.
fn parse_ipv4(text: &str) -> Option<u32> {
    let mut address = 0u32;
    for part in text.split('.') {
        let digits = part.trim_start_matches('0');
        if digits.len() > 3 {
            return None;
        }
        let octet: u32 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        if octet > 255 {
            return None;
        }
        address = (address << 8) | octet;
    }
    Some(address)
}

/// A CIDR block: every address from `low` to `high`, inclusive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CidrBlock {
    low: IpAddress,
    high: IpAddress,
}

impl CidrBlock {
    /// Parses `address/bits`, or returns AWS's reason for rejecting it.
    pub(crate) fn parse(text: &str) -> Result<CidrBlock, String> {
        // Java's String.split drops trailing empty parts, so "10.0.0.0/"
        // counts as one part.
        let mut parts: Vec<&str> = text.split('/').collect();
        while parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        if parts.len() != 2 {
            return Err("Malformed CIDR, one '/' required".to_string());
        }
        let bits: i32 = parts[1]
            .parse()
            .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
        if bits < 0 {
            return Err("Malformed CIDR, mask bits must not be negative".to_string());
        }
        let bits = bits.unsigned_abs();
        let address = match read_ip(parts[0]) {
            IpText::Address(address) => address,
            IpText::Invalid => return Err(format!("Invalid IP address: {}", parts[0])),
            IpText::NotAnAddress => return Err(format!("Nonstandard IP address: {}", parts[0])),
        };
        let high = match address {
            IpAddress::V4(low) => {
                if bits > 31 {
                    return Err("IPv4 mask bits must be < 32".to_string());
                }
                IpAddress::V4(low | (u32::MAX >> bits))
            }
            IpAddress::V6(low) => {
                if bits > 127 {
                    return Err("IPv6 mask bits must be < 128".to_string());
                }
                IpAddress::V6(low | (u128::MAX >> bits))
            }
        };
        Ok(CidrBlock { low: address, high })
    }

    /// Tells whether an address of the same family lies in the block.
    pub(crate) fn contains(&self, address: IpAddress) -> bool {
        let same_family = matches!(
            (address, self.low),
            (IpAddress::V4(_), IpAddress::V4(_)) | (IpAddress::V6(_), IpAddress::V6(_))
        );
        same_family && self.low <= address && address <= self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> CidrBlock {
        CidrBlock::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn ip(text: &str) -> IpAddress {
        parse_ip(text).unwrap_or_else(|| panic!("{text} is an address"))
    }

    #[test]
    fn ipv4_block_contains_its_range() {
        let block = block("10.0.0.0/24");
        assert!(block.contains(ip("10.0.0.0")));
        assert!(block.contains(ip("10.0.0.255")));
        assert!(!block.contains(ip("10.0.1.0")));
        assert!(!block.contains(ip("::1")));
    }

    #[test]
    fn block_starts_at_written_address() {
        let block = block("10.0.0.5/24");
        assert!(!block.contains(ip("10.0.0.4")));
        assert!(block.contains(ip("10.0.0.5")));
        assert!(block.contains(ip("10.0.0.255")));
    }

    #[test]
    fn ipv6_block_contains_its_range() {
        let block = block("2001:db8:1234:1a00::/64");
        assert!(block.contains(ip("2001:db8:1234:1a00::1")));
        assert!(block.contains(ip("2001:0DB8:1234:1A00:FFFF:FFFF:FFFF:FFFF")));
        assert!(!block.contains(ip("2001:db8:1234:1a01::")));
    }

    #[test]
    fn malformed_blocks_give_aws_reasons() {
        let reason = |text: &str| CidrBlock::parse(text).err().unwrap_or_default();
        assert_eq!(reason("10.0.0.0"), "Malformed CIDR, one '/' required");
        assert_eq!(reason("10.0.0.0/"), "Malformed CIDR, one '/' required");
        assert_eq!(
            reason("10.0.0.0/x"),
            "Malformed CIDR, mask bits must be an integer"
        );
        assert_eq!(
            reason("10.0.0.0/-1"),
            "Malformed CIDR, mask bits must not be negative"
        );
        assert_eq!(reason("xx.11.xx/24"), "Nonstandard IP address: xx.11.xx");
        assert_eq!(reason("999.1.1.1/8"), "Invalid IP address: 999.1.1.1");
        assert_eq!(reason("10.0.0.0/32"), "IPv4 mask bits must be < 32");
        assert_eq!(reason("::/128"), "IPv6 mask bits must be < 128");
    }

    #[test]
    fn only_address_shapes_are_addresses() {
        assert_eq!(parse_ip("010.0.0.1"), parse_ip("10.0.0.1"));
        assert_eq!(parse_ip("host.example"), None);
        assert_eq!(parse_ip("::ffff:1.2.3.4"), None);
        assert_eq!(parse_ip("1.2.3"), None);
    }
}
