package main

import "strings"

// whisperLanguages maps the English language names Whisper's verbose_json
// answers carry ("english") to ISO 639-1 codes ("en"), the form the rest
// of tzurot uses. The names are those of Whisper's tokenizer; the two
// languages without a two-letter code (Hawaiian, Cantonese) keep their ISO
// 639-3 code, and Javanese gets ISO's "jv", not Whisper's own "jw".
var whisperLanguages = map[string]string{
	"afrikaans": "af", "albanian": "sq", "amharic": "am", "arabic": "ar", "armenian": "hy",
	"assamese": "as", "azerbaijani": "az", "bashkir": "ba", "basque": "eu", "belarusian": "be",
	"bengali": "bn", "bosnian": "bs", "breton": "br", "bulgarian": "bg", "burmese": "my",
	"cantonese": "yue", "catalan": "ca", "chinese": "zh", "croatian": "hr", "czech": "cs",
	"danish": "da", "dutch": "nl", "english": "en", "estonian": "et", "faroese": "fo",
	"finnish": "fi", "french": "fr", "galician": "gl", "georgian": "ka", "german": "de",
	"greek": "el", "gujarati": "gu", "haitian creole": "ht", "hausa": "ha", "hawaiian": "haw",
	"hebrew": "he", "hindi": "hi", "hungarian": "hu", "icelandic": "is", "indonesian": "id",
	"italian": "it", "japanese": "ja", "javanese": "jv", "kannada": "kn", "kazakh": "kk",
	"khmer": "km", "korean": "ko", "lao": "lo", "latin": "la", "latvian": "lv",
	"lingala": "ln", "lithuanian": "lt", "luxembourgish": "lb", "macedonian": "mk", "malagasy": "mg",
	"malay": "ms", "malayalam": "ml", "maltese": "mt", "maori": "mi", "marathi": "mr",
	"mongolian": "mn", "myanmar": "my", "nepali": "ne", "norwegian": "no", "nynorsk": "nn",
	"occitan": "oc", "pashto": "ps", "persian": "fa", "polish": "pl", "portuguese": "pt",
	"punjabi": "pa", "romanian": "ro", "russian": "ru", "sanskrit": "sa", "serbian": "sr",
	"shona": "sn", "sindhi": "sd", "sinhala": "si", "slovak": "sk", "slovenian": "sl",
	"somali": "so", "spanish": "es", "sundanese": "su", "swahili": "sw", "swedish": "sv",
	"tagalog": "tl", "tajik": "tg", "tamil": "ta", "tatar": "tt", "telugu": "te",
	"thai": "th", "tibetan": "bo", "turkish": "tr", "turkmen": "tk", "ukrainian": "uk",
	"urdu": "ur", "uzbek": "uz", "vietnamese": "vi", "welsh": "cy", "yiddish": "yi",
	"yoruba": "yo",
}

// isoLanguage is lang as an ISO 639-1 code where one is known: Whisper's
// English names are mapped, codes are lowercased (so "EN" is "en", and
// Whisper's "jw" is "jv"), and anything else is kept as the server wrote
// it, lowercased, rather than lost.
func isoLanguage(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if code, ok := whisperLanguages[l]; ok {
		return code
	}
	if l == "jw" {
		return "jv"
	}
	return l
}
