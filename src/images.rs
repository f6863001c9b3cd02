//! Images in prompt messages. A message holds an image as a Markdown image line, `![alt](url)`,
//! alone on its line (as Prompty writes them), so the template stays text: it diffs, bundles and
//! renders like the rest. The URL is an `http(s)` address, a `data:` URL embedded with the
//! version (size-capped), or a variable (`![photo]({{photo}})`) whose value per row is a URL or,
//! where the caller reads local files (the CLI and the desktop app, not the gateway), a path.
//!
//! Only user messages hold images (providers take images from the user only), and only lines
//! the template itself writes as image lines: rendering marks them (see
//! [`crate::template::CompiledPrompt`]), so a variable's value or a model's earlier answer that
//! happens to read `![x](/etc/passwd)` stays text and is never read as a file. When a rendered
//! message becomes a chat message, each marked line becomes an `image_url` part between the
//! text parts around it; providers then send it in their own format.

use std::path::Path;

use base64::Engine as _;

use crate::chat::{ContentPart, ImageUrl};
use crate::error::{Error, Result};

/// The largest image, decoded, a version may embed or a path may load (providers cap near
/// here: 5 MB on Anthropic, 20 MB on OpenAI).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// Image types every provider Portolan speaks to accepts.
const MEDIA_TYPES: &[(&str, &[&str])] = &[
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/gif", &["gif"]),
    ("image/webp", &["webp"]),
];

/// Whether rendering may read an image from a local path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAccess {
    /// Paths are read (the CLI, the desktop app, experiments run on this machine).
    LocalFiles,
    /// Only URLs and data URLs: a request from the network must not read this machine's files.
    UrlsOnly,
}

/// An image line's alt text and URL, when `line` is one (`![alt](url)`, surrounding spaces
/// allowed).
pub fn image_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let rest = line.strip_prefix("![")?;
    let close = rest.find("](")?;
    let url = rest[close + 2..].strip_suffix(')')?;
    if url.is_empty() || url.contains(char::is_whitespace) && !url.contains("{{") {
        return None;
    }
    Some((&rest[..close], url.trim()))
}

/// Checks the images a template embeds (data URLs): an accepted type, valid base64, and at most
/// [`MAX_IMAGE_BYTES`]. URLs and variables are checked when rendered.
pub fn validate_embedded(content: &str, message_index: usize) -> Result<()> {
    for line in content.lines() {
        if let Some((alt, url)) = image_line(line)
            && url.starts_with("data:")
        {
            decode_data_url(url).map_err(|reason| {
                Error::Image(format!(
                    "message {} embeds {}: {reason}",
                    message_index + 1,
                    describe(alt)
                ))
            })?;
        }
    }
    Ok(())
}

fn describe(alt: &str) -> String {
    if alt.trim().is_empty() {
        "an image".into()
    } else {
        format!("the image '{alt}'")
    }
}

/// A `data:<mime>;base64,<data>` URL split into its media type (lower case) and its base64
/// payload; None when it is not a base64 data URL. Providers send the two parts in their own
/// fields.
pub fn parse_data_url(url: &str) -> Option<(String, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mut params = meta.split(';');
    let mime = params.next().unwrap_or("").trim();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let mime = if mime.is_empty() {
        "application/octet-stream"
    } else {
        mime
    };
    Some((mime.to_ascii_lowercase(), data.trim()))
}

/// The media type and size of a data URL's image, or why it cannot be sent.
fn decode_data_url(url: &str) -> std::result::Result<(String, usize), String> {
    let (media, data) = parse_data_url(url)
        .ok_or("an embedded image must be a base64 data URL (data:image/png;base64,…)")?;
    if !MEDIA_TYPES.iter().any(|(m, _)| *m == media) {
        return Err(format!(
            "type '{media}' is not an image providers accept (PNG, JPEG, GIF or WebP)"
        ));
    }
    // The decoded size is known from the text's length; refuse before decoding a huge one.
    let approx = data.len() / 4 * 3;
    if approx > MAX_IMAGE_BYTES + 3 {
        return Err(too_large(approx));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("its base64 data is broken ({e})"))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large(bytes.len()));
    }
    Ok((media, bytes.len()))
}

fn too_large(bytes: usize) -> String {
    format!(
        "it is {:.1} MB; the limit is {} MB (resize or compress it, or link it by URL)",
        bytes as f64 / 1_048_576.0,
        MAX_IMAGE_BYTES / 1_048_576
    )
}

/// A data URL for the image at `path`, type from its extension.
pub fn data_url_from_file(path: &Path) -> Result<String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let media = MEDIA_TYPES
        .iter()
        .find(|(_, exts)| exts.contains(&ext.as_str()))
        .map(|(m, _)| *m)
        .ok_or_else(|| {
            Error::Image(format!(
                "{} is not a PNG, JPEG, GIF or WebP file",
                path.display()
            ))
        })?;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::Image(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() as usize > MAX_IMAGE_BYTES {
        return Err(Error::Image(format!(
            "{}: {}",
            path.display(),
            too_large(meta.len() as usize)
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Image(format!("cannot read {}: {e}", path.display())))?;
    Ok(format!(
        "data:{media};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Splits rendered text into text and image parts at `image_lines` (the lines rendering
/// marked as images, see [`crate::message::Message::image_lines`]); None when there are none
/// (the message is then sent as plain text).
pub fn split_parts(
    text: &str,
    image_lines: &[usize],
    access: ImageAccess,
) -> Result<Option<Vec<ContentPart>>> {
    if image_lines.is_empty() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    let mut pending = String::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if !image_lines.contains(&index) {
            pending.push_str(line);
            continue;
        }
        let (alt, url) = rendered_image_line(line).ok_or_else(|| {
            Error::Image(format!(
                "the image line '{}' does not read as ![alt](url) once filled in",
                line.trim().chars().take(80).collect::<String>()
            ))
        })?;
        let text = std::mem::take(&mut pending);
        let text = text.trim_end_matches('\n');
        if !text.trim().is_empty() {
            parts.push(ContentPart::Text { text: text.into() });
        }
        parts.push(ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: resolve(alt, url, access)?,
                detail: None,
            },
        });
    }
    let text = pending.trim_end_matches('\n');
    if !text.trim().is_empty() {
        parts.push(ContentPart::Text { text: text.into() });
    }
    Ok(Some(parts))
}

/// The alt text and URL of an image line once rendered. Unlike [`image_line`] (which decides
/// what a template's line is), the URL may hold spaces: a variable's path may.
pub fn rendered_image_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix("![")?;
    let close = rest.find("](")?;
    let url = rest[close + 2..].strip_suffix(')')?.trim();
    Some((&rest[..close], url))
}

/// The URL to send for an image line's rendered URL.
fn resolve(alt: &str, url: &str, access: ImageAccess) -> Result<String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(url.to_owned());
    }
    if url.starts_with("data:") {
        decode_data_url(url).map_err(|r| Error::Image(format!("{}: {r}", describe(alt))))?;
        return Ok(url.to_owned());
    }
    if url.is_empty() {
        return Err(Error::Image(format!(
            "{} has an empty URL (is its variable set?)",
            describe(alt)
        )));
    }
    match access {
        ImageAccess::LocalFiles => {
            let path = url.strip_prefix("file://").unwrap_or(url);
            data_url_from_file(Path::new(path))
        }
        ImageAccess::UrlsOnly => Err(Error::Image(format!(
            "{} is '{}', which is neither an http(s) URL nor a data URL; requests through the gateway cannot read local files",
            describe(alt),
            url.chars().take(80).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXEL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

    #[test]
    fn data_urls() {
        assert_eq!(
            parse_data_url("data:image/jpeg;base64,AAAA"),
            Some(("image/jpeg".into(), "AAAA"))
        );
        assert_eq!(parse_data_url("data:image/png,raw"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }

    #[test]
    fn image_lines_become_parts_between_the_text() {
        let text = format!("Look at this:\n![chart]({PIXEL})\nWhat does it show?");
        let parts = split_parts(&text, &[1], ImageAccess::UrlsOnly)
            .unwrap()
            .unwrap();
        assert_eq!(parts.len(), 3);
        assert!(matches!(&parts[0], ContentPart::Text { text } if text == "Look at this:"));
        assert!(matches!(&parts[1], ContentPart::ImageUrl { image_url } if image_url.url == PIXEL));
        assert!(matches!(&parts[2], ContentPart::Text { text } if text == "What does it show?"));
        // Only the lines rendering marked are images.
        assert!(
            split_parts(&text, &[], ImageAccess::UrlsOnly)
                .unwrap()
                .is_none()
        );
        let e = split_parts(&text, &[0], ImageAccess::UrlsOnly).unwrap_err();
        assert!(
            e.to_string().contains("does not read as ![alt](url)"),
            "{e}"
        );
    }

    #[test]
    fn local_paths_load_only_where_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dot.png");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(PIXEL.split_once(',').unwrap().1)
            .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let text = format!("![dot]({})", path.display());
        let parts = split_parts(&text, &[0], ImageAccess::LocalFiles)
            .unwrap()
            .unwrap();
        assert!(matches!(&parts[0], ContentPart::ImageUrl { image_url } if image_url.url == PIXEL));
        let e = split_parts(&text, &[0], ImageAccess::UrlsOnly)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read local files"), "{e}");
        let e = split_parts("![x](/no/such.png)", &[0], ImageAccess::LocalFiles)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /no/such.png"), "{e}");
        let e = split_parts("![x](/etc/passwd)", &[0], ImageAccess::LocalFiles)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a PNG"), "{e}");
    }

    #[test]
    fn embedded_images_are_capped_and_typed() {
        validate_embedded(&format!("hi\n![a]({PIXEL})"), 0).unwrap();
        let big = format!(
            "data:image/png;base64,{}",
            "A".repeat((MAX_IMAGE_BYTES + 1024) / 3 * 4)
        );
        let e = validate_embedded(&format!("![big]({big})"), 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("message 3 embeds the image 'big'") && e.contains("limit is 5 MB"),
            "{e}"
        );
        let e = validate_embedded("![s](data:image/svg+xml;base64,AAAA)", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an image providers accept"), "{e}");
        let e = validate_embedded("![s](data:image/png;base64,@@@)", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("base64"), "{e}");
    }
}
