// Dates and times as the chat shows them, in the browser's own time zone and
// language, which are the user's: day dividers ("Today", "Yesterday",
// "Monday 30 November"), message times (HH:MM today, with the date otherwise)
// and the full date and time a message's time carries as its title.

// A local calendar day, as a key two times can be compared by.
export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

function daysBefore(now, days) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - days);
}

export function dayLabel(date, now = new Date()) {
  if (dayKey(date) === dayKey(now)) return "Today";
  if (dayKey(date) === dayKey(daysBefore(now, 1))) return "Yesterday";
  const options = { weekday: "long", day: "numeric", month: "long" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString([], options);
}

const CLOCK = { hour: "2-digit", minute: "2-digit" };

// HH:MM, whatever the day.
export function clockLabel(date) {
  return date.toLocaleTimeString([], CLOCK);
}

// HH:MM today, with the date on any other day.
export function timeLabel(date, now = new Date()) {
  if (dayKey(date) === dayKey(now)) return clockLabel(date);
  const options = { ...CLOCK, day: "numeric", month: "short" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleString([], options);
}

export function fullLabel(date) {
  return date.toLocaleString([], { dateStyle: "full", timeStyle: "short" });
}
