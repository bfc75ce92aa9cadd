package gen

// Fixed word lists and tables. Changing any of them changes the generated
// data for every seed, so treat them as part of the output format.

// dataSources are the fixed data source UUIDs, with their share of customers
// in per-mille and the style of external ID they use.
var dataSources = [...]struct {
	uuid   string
	weight int
	style  byte // 's' Stripe-like, 'c' Chargebee-like, 'n' numeric
}{
	{"ds_5f3c2a9e-8d41-11ee-b9d1-0242ac120002", 600, 's'},
	{"ds_a1b7e4c2-8d41-11ee-b9d1-0242ac120002", 300, 'c'},
	{"ds_e9d04f76-8d41-11ee-b9d1-0242ac120002", 100, 'n'},
}

// plans: share of customers (per-mille), median MRR in cents and the sigma of
// the log-normal around it, list price per seat in cents.
var plans = [...]struct {
	name    string
	weight  int
	median  float64
	sigma   float64
	perSeat int64
}{
	{"starter", 600, 3000, 0.6, 1000},
	{"pro", 300, 12000, 0.7, 2500},
	{"enterprise", 100, 60000, 1.0, 5000},
}

// sources: one source tag per customer at most; the rest have none.
var sources = [...]struct {
	name   string
	weight int // per-mille
}{
	{"source-hubspot", 350},
	{"source-salesforce", 200},
	{"source-zapier", 100},
	{"source-intercom", 80},
	{"source-segment", 50},
	{"source-csv-import", 50},
}

// headGenericTags name the most popular generic tags, most popular first.
var headGenericTags = [...]string{
	"newsletter", "active", "onboarded", "email-verified", "mobile-app-user",
	"webinar-attendee", "trial-converted", "nps-promoter", "api-user",
	"integration-slack", "annual-billing", "monthly-billing", "gdpr-consent",
	"self-serve", "card-billing", "sales-assisted", "power-user", "low-usage",
	"upsell-candidate", "champion", "support-ticket-open", "onboarding-call",
	"beta-program", "invoice-billing", "referral", "community-member",
	"docs-reader", "event-attendee", "survey-responded", "case-study",
	"partner", "agency", "reseller", "startup-program", "nonprofit",
	"education", "vip", "g2-reviewer", "product-hunt", "eu-customer",
}

// tailFamilies prefix the long-tail generic tags: <family>-<5 digits>.
var tailFamilies = [...]string{"segment", "campaign", "cohort", "list", "import", "event"}

// curatedFeatures are the most requested features, most requested first; the
// rest of the feature-* tags combine featureAreas and featureThings.
var curatedFeatures = [...]string{
	"dark-mode", "sso", "scim", "audit-log", "csv-export", "webhooks",
	"custom-roles", "two-factor-auth", "mobile-app", "api-v2", "saml",
	"multi-currency", "custom-fields", "bulk-edit", "slack-alerts",
	"scheduled-reports", "data-residency-eu", "ip-allowlist", "sandbox",
	"white-label",
}

var featureAreas = [...]string{
	"reports", "billing", "dashboard", "api", "mobile", "slack", "salesforce",
	"hubspot", "zapier", "invoices", "segments", "alerts", "search", "import",
	"permissions", "analytics",
}

var featureThings = [...]string{
	"export", "filters", "templates", "sharing", "scheduling", "history",
	"bulk-actions", "comments", "tags", "notifications", "drilldown", "presets",
	"sync",
}

// companyAdjectives × companyNouns × companySuffixes name the companies; the
// suffix also picks the top-level domain.
var companyAdjectives = [...]string{
	"Acme", "Bright", "Blue", "Swift", "Silver", "Golden", "Quantum", "Rapid",
	"Clever", "Bold", "Brave", "Calm", "Crisp", "Deep", "Eager", "Fancy",
	"Green", "Happy", "Iron", "Jolly", "Keen", "Lucky", "Mighty", "Noble",
	"Open", "Prime", "Quiet", "Red", "Smart", "True", "Urban", "Vivid",
	"Wild", "Young", "Zen", "Alpha", "Beta", "Cosmic", "Digital", "Electric",
	"First", "Giant", "Hyper", "Infinite", "Lunar", "Magic", "North", "Omni",
	"Pixel", "Rocket", "Solar", "Tidal", "Ultra", "Vector", "West", "Atomic",
	"Cloud", "Data", "Echo", "Fusion", "Nimble", "Polar", "Stellar", "Turbo",
}

var companyNouns = [...]string{
	"Harbor", "Lattice", "Works", "Forge", "Stack", "Bridge", "Peak", "Field",
	"River", "Stone", "Leaf", "Wave", "Spark", "Path", "Point", "Gate",
	"Hive", "Nest", "Orbit", "Pulse", "Ridge", "Root", "Sail", "Shift",
	"Signal", "Sky", "Sprout", "Tower", "Trail", "Vault", "Wing", "Yard",
	"Anchor", "Beacon", "Canvas", "Circle", "Compass", "Engine", "Falcon", "Flow",
	"Fox", "Garden", "Grid", "Horizon", "Island", "Kite", "Lane", "Lens",
	"Loop", "Maple", "Mesa", "Metric", "Mint", "Node", "Ocean", "Owl",
	"Pine", "Quarry", "Rail", "Scope", "Summit", "Tide", "Vista", "Zebra",
}

var companySuffixes = [...]struct{ name, tld string }{
	{"Inc", "com"}, {"Labs", "io"}, {"Ltd", "co.uk"}, {"GmbH", "de"},
	{"Systems", "net"}, {"Group", "co"}, {"Software", "dev"}, {"AI", "ai"},
}

var firstNames = [...]string{
	"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
	"William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
	"Thomas", "Sarah", "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa",
	"Anthony", "Betty", "Mark", "Margaret", "Paul", "Sandra", "Steven", "Ashley",
	"Andrew", "Emily", "Joshua", "Donna", "Kevin", "Michelle", "Brian", "Carol",
	"George", "Amanda", "Oliver", "Sophie", "Lukas", "Emma", "Hugo", "Chloé",
	"Liam", "Olivia", "Noah", "Ava", "Mateo", "Lucía", "Arjun", "Priya",
	"Kenji", "Yuki", "Lars", "Ingrid", "Pedro", "Ana", "Wei", "Mei",
}

var lastNames = [...]string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
	"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
	"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
	"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
	"Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Lefebvre", "Moreau", "Rossi",
	"Russo", "Ferrari", "Silva", "Santos", "Oliveira", "Kowalski", "Nowak", "Andersson",
	"Johansson", "Nielsen", "Sato", "Suzuki", "Tanaka", "Patel", "Sharma", "Chen",
}

// location is a place customers live in; zip is a pattern where '#' is a
// random digit and '@' a random upper-case letter.
type location struct{ state, city, zip string }

// countries with their share of customers in per-mille (the rest of the
// thousand is spread over smaller ones by the same table) and a handful of
// locations each.
var countries = [...]struct {
	code   string
	weight int
	locs   []location
}{
	{"US", 400, []location{
		{"CA", "San Francisco", "941##"}, {"CA", "Los Angeles", "900##"},
		{"NY", "New York", "100##"}, {"TX", "Austin", "787##"},
		{"WA", "Seattle", "981##"}, {"MA", "Boston", "021##"},
		{"IL", "Chicago", "606##"}, {"FL", "Miami", "331##"},
		{"CO", "Denver", "802##"}, {"GA", "Atlanta", "303##"},
	}},
	{"GB", 100, []location{
		{"England", "London", "EC#@ #@@"}, {"England", "Manchester", "M# #@@"},
		{"Scotland", "Edinburgh", "EH# #@@"}, {"England", "Bristol", "BS# #@@"},
	}},
	{"DE", 80, []location{
		{"BE", "Berlin", "10###"}, {"BY", "München", "80###"},
		{"HH", "Hamburg", "20###"}, {"HE", "Frankfurt am Main", "60###"},
	}},
	{"FR", 60, []location{
		{"IDF", "Paris", "750##"}, {"ARA", "Lyon", "6900#"}, {"PAC", "Marseille", "130##"},
	}},
	{"CA", 60, []location{
		{"ON", "Toronto", "M5V #@#"}, {"BC", "Vancouver", "V6B #@#"}, {"QC", "Montréal", "H2X #@#"},
	}},
	{"AU", 50, []location{
		{"NSW", "Sydney", "20##"}, {"VIC", "Melbourne", "30##"}, {"QLD", "Brisbane", "40##"},
	}},
	{"NL", 30, []location{{"NH", "Amsterdam", "10## @@"}, {"ZH", "Rotterdam", "30## @@"}}},
	{"IN", 30, []location{{"KA", "Bengaluru", "560###"}, {"MH", "Mumbai", "400###"}}},
	{"BR", 30, []location{{"SP", "São Paulo", "01###-###"}, {"RJ", "Rio de Janeiro", "20###-###"}}},
	{"ES", 25, []location{{"MD", "Madrid", "280##"}, {"CT", "Barcelona", "080##"}}},
	{"IT", 20, []location{{"MI", "Milano", "201##"}, {"RM", "Roma", "001##"}}},
	{"SE", 20, []location{{"AB", "Stockholm", "11# ##"}}},
	{"JP", 20, []location{{"13", "Tokyo", "1##-####"}, {"27", "Osaka", "5##-####"}}},
	{"IE", 15, []location{{"D", "Dublin", "D0# @###"}}},
	{"CH", 15, []location{{"ZH", "Zürich", "80##"}, {"GE", "Genève", "12##"}}},
	{"PL", 15, []location{{"MZ", "Warszawa", "0#-###"}}},
	{"SG", 15, []location{{"", "Singapore", "0#####"}}},
	{"MX", 15, []location{{"CMX", "Ciudad de México", "06###"}}},
	{"DK", 10, []location{{"84", "København", "1###"}}},
	{"NO", 10, []location{{"03", "Oslo", "0###"}}},
	{"FI", 10, []location{{"18", "Helsinki", "00###"}}},
	{"NZ", 10, []location{{"AUK", "Auckland", "10##"}}},
	{"IL", 10, []location{{"TA", "Tel Aviv", "6######"}}},
	{"AT", 10, []location{{"9", "Wien", "1###"}}},
	{"BE", 10, []location{{"BRU", "Bruxelles", "1###"}}},
	{"PT", 10, []location{{"11", "Lisboa", "1###-###"}}},
	{"AR", 10, []location{{"C", "Buenos Aires", "C1###@@@"}}},
}
