package xdatabase

// Spec is the XDatabase's spec as the function reads it. It mirrors the XRD
// in compositions/xdatabase/xrd.yaml; admission (OpenAPI and CEL) has already
// refused malformed input, the function refuses what the catalog does not
// offer.
type Spec struct {
	Engine             string            `json:"engine"`
	Version            string            `json:"version"`
	AllowMajorUpgrade  bool              `json:"allowMajorUpgrade,omitempty"`
	Tier               string            `json:"tier"`
	Size               string            `json:"size"`
	StorageGB          int32             `json:"storageGB"`
	Platform           string            `json:"platform"`
	Users              []UserSpec        `json:"users,omitempty"`
	Databases          []DatabaseSpec    `json:"databases,omitempty"`
	Backup             BackupSpec        `json:"backup,omitempty"`
	SkipFinalBackup    bool              `json:"skipFinalBackup,omitempty"`
	DeletionProtection bool              `json:"deletionProtection,omitempty"`
	Parameters         map[string]string `json:"parameters,omitempty"`
	MaintenanceWindow  *Window           `json:"maintenanceWindow,omitempty"`
	SwitchoverTo       string            `json:"switchoverTo,omitempty"`
	Restore            *RestoreSpec      `json:"restore,omitempty"`
	RestartRequest     string            `json:"restartRequest,omitempty"`
}

// RestoreSpec starts the database from another XDatabase's backups.
type RestoreSpec struct {
	FromDatabase string `json:"fromDatabase"`
	Backup       string `json:"backup,omitempty"`
	PointInTime  string `json:"pointInTime,omitempty"`
}

// UserSpec is a user the app wants.
type UserSpec struct {
	Name   string  `json:"name"`
	Grants []Grant `json:"grants,omitempty"`
}

// Grant is a privilege on a logical database.
type Grant struct {
	Database  string `json:"database"`
	Privilege string `json:"privilege"`
}

// DatabaseSpec is a logical database the app wants.
type DatabaseSpec struct {
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
}

// BackupSpec schedules backups.
type BackupSpec struct {
	Schedule      string `json:"schedule,omitempty"`
	RetentionDays int32  `json:"retentionDays,omitempty"`
}

// Window is a weekly maintenance window. The function is clock-free, so it
// cannot wait for it; enforcing it belongs to the provider (not done yet).
type Window struct {
	Day             string `json:"day"`
	StartTime       string `json:"startTime"`
	DurationMinutes int32  `json:"durationMinutes"`
}

// Status is what the function writes to the XDatabase's status.
type Status struct {
	Phase            string   `json:"phase"`
	Message          string   `json:"message"`
	Endpoint         string   `json:"endpoint,omitempty"`
	Port             int32    `json:"port,omitempty"`
	Primary          string   `json:"primary,omitempty"`
	Addresses        []string `json:"addresses,omitempty"`
	Members          []Member `json:"members,omitempty"`
	ConnectionSecret string   `json:"connectionSecret,omitempty"`
}

// Member is one node of the database as observed.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Role    string `json:"role,omitempty"`
	Ready   bool   `json:"ready"`
}

// Phases of an XDatabase.
const (
	PhaseProvisioning = "Provisioning"
	PhaseInstalling   = "Installing"
	PhaseConfiguring  = "Configuring"
	PhaseUpdating     = "Updating"
	PhaseAvailable    = "Available"
)

// withDefaults fills what app teams may leave out.
func (s Spec) withDefaults() Spec {
	if len(s.Databases) == 0 {
		owner := "app"
		if len(s.Users) > 0 {
			owner = s.Users[0].Name
		}
		s.Databases = []DatabaseSpec{{Name: "app", Owner: owner}}
	}
	if len(s.Users) == 0 {
		s.Users = []UserSpec{{Name: "app", Grants: []Grant{{Database: s.Databases[0].Name, Privilege: "owner"}}}}
	}
	if s.Backup.Schedule == "" {
		s.Backup.Schedule = "0 2 * * *"
	}
	if s.Backup.RetentionDays == 0 {
		s.Backup.RetentionDays = 7
	}
	return s
}
