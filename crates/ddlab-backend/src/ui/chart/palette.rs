//! Series colours: Datadog's palette names (`classic`, `cool`, `warm`, `purple`, `orange`, `gray`) mapped to
//! our own colour ramps, and the fixed colours of anomalies and markers.

/// Out-of-band points of an anomaly band, and error markers.
pub(crate) const ANOMALY: &str = "#e5332a";
/// The expected range of an anomaly band.
pub(crate) const BAND: &str = "#9aa0ad";
pub(crate) const WARNING: &str = "#e99b1a";
pub(crate) const OK: &str = "#2fa36b";
pub(crate) const INFO: &str = "#5b6fd6";
/// Axis text and grid lines.
pub(crate) const TEXT: &str = "#5c6070";
pub(crate) const GRID: &str = "#e7e8ee";

const CLASSIC: &[&str] = &[
    "#6f4fc9", "#2c9ad1", "#3fb68b", "#f2a13a", "#c36bd6", "#1d7a8c", "#9bb33c", "#d9679d", "#5b6fd6",
    "#7c8696",
];
const COOL: &[&str] = &[
    "#2c7fb8", "#41b6c4", "#1d91c0", "#7fcdbb", "#225ea8", "#5aae61", "#0c2c84",
];
const WARM: &[&str] = &[
    "#f2a13a", "#e8590c", "#f6c344", "#d9480f", "#fab005", "#c2410c", "#ffd8a8",
];
const PURPLE: &[&str] = &["#6f4fc9", "#9775fa", "#5f3dc4", "#b197fc", "#4c2f9e", "#d0bfff"];
const ORANGE: &[&str] = &["#f76707", "#ff922b", "#d9480f", "#ffa94d", "#e8590c", "#ffc078"];
const GRAY: &[&str] = &["#495057", "#868e96", "#343a40", "#adb5bd", "#212529", "#ced4da"];

/// The `index`-th colour of the palette Datadog calls `name` (`classic` when unknown).
pub(crate) fn color(name: Option<&str>, index: usize) -> &'static str {
    let ramp = match name.unwrap_or("classic") {
        "cool" | "blue" | "green" => COOL,
        "warm" | "red" | "yellow" => WARM,
        "purple" => PURPLE,
        "orange" => ORANGE,
        "gray" | "grey" => GRAY,
        _ => CLASSIC,
    };
    ramp[index % ramp.len()]
}
